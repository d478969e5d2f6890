"""Values that used to fail late (at `serve`, mid-stage) are refused when params are loaded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitgrf.core.config import ConfigError, parse_params
from gaitgrf.core.cron import CronError, check_cron

VALID_CRONS = [
    "0 3 * * 1",
    "*/15 * * * *",
    "0 0 1 1 *",
    "30 2 * * mon-fri",
    "0 12 1,15 jan,jul sun",
    "5-10/2 0-23/6 1-31 1-12 0-7",
    "@daily",
    "@hourly",
]
INVALID_CRONS = [
    "",
    "every monday",
    "0 3 * *",
    "0 3 * * 1 2020",
    "60 3 * * 1",
    "0 24 * * 1",
    "0 3 0 * 1",
    "0 3 * 13 1",
    "0 3 * * 8",
    "0 3 * * funday",
    "*/0 * * * *",
    "H 3 * * 1",
    "R 3 * * 1",
    "@fortnightly",
]


def _prefect_accepts(expression: str) -> bool:
    """The validator Prefect applies when `gaitgrf serve` builds the cron deployment."""
    from prefect._internal.schemas.validators import validate_cron_string

    try:
        validate_cron_string(expression)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("expression", VALID_CRONS)
def test_valid_cron_is_accepted_here_and_by_prefect(expression: str) -> None:
    assert check_cron(expression) == expression
    assert _prefect_accepts(expression)


@pytest.mark.parametrize("expression", INVALID_CRONS)
def test_invalid_cron_is_refused_here_and_by_prefect(expression: str) -> None:
    with pytest.raises(CronError):
        check_cron(expression)
    assert not _prefect_accepts(expression)


#: Refused here though croniter would take them: a backwards range (croniter wraps it around)
#: and its `L` / `#` extensions are far more often a typo than intended in a weekly retrain.
STRICTER_THAN_PREFECT = ["10-5 * * * *", "0 3 L * *", "0 3 * * 1#2"]


@pytest.mark.parametrize("expression", STRICTER_THAN_PREFECT)
def test_stricter_than_prefect_on_purpose(expression: str) -> None:
    with pytest.raises(CronError):
        check_cron(expression)


_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda ab: f"{ab[0]}-{ab[1]}"),
    st.tuples(st.sampled_from(["*", "1-20"]), st.integers(0, 9)).map(lambda a: f"{a[0]}/{a[1]}"),
    st.sampled_from(["mon", "jan", "x", "L", "1#2", ""]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD, min_size=4, max_size=6))
def test_what_we_accept_prefect_accepts(fields: list[str]) -> None:
    """Never stricter in the wrong direction: an accepted schedule always deploys."""
    expression = " ".join(fields)
    try:
        check_cron(expression)
    except CronError:
        return
    assert _prefect_accepts(expression), expression


def test_invalid_cron_fails_at_params_load_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"retrain\.cron: hour field: 25 is outside 0-23"):
        parse_params({"retrain": {"cron": "0 25 * * 1"}})


@pytest.mark.parametrize("family", ["grf", "accelerometer", "cop", "joint_angle"])
def test_cutoff_at_or_above_nyquist_is_refused(family: str) -> None:
    with pytest.raises(ConfigError, match="Nyquist frequency 50 Hz"):
        parse_params({"resample": {"rate_hz": 100.0, "filter": {"cutoff_hz": {family: 50.0}}}})
    parsed = parse_params({"resample": {"rate_hz": 100.0, "filter": {"cutoff_hz": {family: 49.0}}}})
    assert parsed.resample.filter.cutoff_hz == {family: 49.0}


def test_unknown_filter_family_and_layout_are_refused_at_load() -> None:
    with pytest.raises(ConfigError, match=r"unknown channel famil\(ies\) \['grff'\]"):
        parse_params({"resample": {"filter": {"cutoff_hz": {"grff": 6.0}}}})
    with pytest.raises(ConfigError, match=r"unknown layout\(s\) \['stnce'\]"):
        parse_params({"resample": {"layouts": ["stnce"]}})
    with pytest.raises(ConfigError, match="cut-offs must be positive"):
        parse_params({"resample": {"filter": {"cutoff_hz": {"grf": 0.0}}}})


def test_fuse_names_are_checked_at_params_load() -> None:
    with pytest.raises(ConfigError, match=r"fuse: unknown sensor location\(s\) \['wrist'\]"):
        parse_params({"fuse": {"sensors": ["wrist"]}})
    with pytest.raises(ConfigError, match=r"unknown joint angle\(s\) \['knee_flexion'\]"):
        parse_params({"fuse": {"kinematics": ["knee_flexion"]}})
    with pytest.raises(ConfigError, match="'base' must have no static features"):
        parse_params({"fuse": {"conditions": {"base": ["knee_alignment"]}}})
