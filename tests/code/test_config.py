"""params.yaml and the typed configuration (gaitgrf.core.config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from gaitgrf.core.config import (
    ConfigError,
    ContractConfig,
    Params,
    PathsConfig,
    SynthConfig,
    load_params,
    parse_params,
)

REPO = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO / "params.yaml"


def _missing_fields(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> list[str]:
    """Fields of `model` (by their YAML name, the alias if any) that `data` does not write out."""
    missing = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in data:
            missing.append(f"{prefix}{key}")
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _missing_fields(annotation, data[key] or {}, f"{prefix}{key}.")
    return missing


def test_repo_params_file_parses() -> None:
    params = load_params(PARAMS_FILE)
    assert isinstance(params, Params)
    assert params.synth.cohort_id == "synth-default"


def test_repo_params_file_writes_out_every_field() -> None:
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    assert _missing_fields(Params, raw) == []


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("")
    assert load_params(path) == Params()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"trainig": {}}, "trainig"),
        ({"synth": {"subject": 3}}, "synth.subject"),
        ({"synth": {"groups": {"healty": 0.5}}}, "synth.groups.healty"),
        ({"paths": {"raw_dir": "x"}}, "paths.raw_dir"),
        ({"contract": {"max_nan_run": 0.2}}, "contract.max_nan_run"),
    ],
)
def test_unknown_keys_are_rejected(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_params(raw)
    assert key in str(err.value)
    assert "Extra inputs are not permitted" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"synth": {"subjects": -3}}, "synth.subjects"),
        ({"synth": {"subjects": 0}}, "synth.subjects"),
        ({"synth": {"cohort_id": "Bad Cohort!"}}, "synth"),
        ({"synth": {"trial_duration_s": 1.0}}, "synth.trial_duration_s"),
        ({"synth": {"rates": {"force_hz": 0}}}, "synth.rates.force_hz"),
        ({"synth": {"marker_fraction": 1.5}}, "synth.marker_fraction"),
        ({"synth": {"marker_fraction": -0.1}}, "synth.marker_fraction"),
        ({"synth": {"marker_sets": ["vicon"]}}, "synth.marker_sets"),
        ({"synth": {"marker_sets": []}}, "synth.marker_sets"),
        ({"contract": {"rate_tolerance": 0.9}}, "contract.rate_tolerance"),
        ({"contract": {"verify_checksums": "maybe"}}, "contract.verify_checksums"),
    ],
)
def test_bad_values_name_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_params(raw, source="params.yaml")
    message = str(err.value)
    assert message.startswith("params.yaml: ")
    assert key in message


def test_bad_cohort_id_says_why() -> None:
    with pytest.raises(ConfigError, match="cohort_id 'Bad Cohort!' must match"):
        parse_params({"synth": {"cohort_id": "Bad Cohort!"}})


def test_config_error_has_a_hint() -> None:
    with pytest.raises(ConfigError) as err:
        parse_params({"synth": {"subjects": -1}})
    assert err.value.hint


@pytest.mark.parametrize(
    ("obj", "field", "value"),
    [
        (Params(), "synth", SynthConfig()),
        (SynthConfig(), "subjects", 3),
        (PathsConfig(), "raw", Path("elsewhere")),
        (ContractConfig(), "verify_checksums", False),
        (SynthConfig().groups, "healthy", 1.0),
    ],
)
def test_config_objects_are_frozen(obj: BaseModel, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        setattr(obj, field, value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_params(listed)
