"""Normaliser (gaitgrf.training.normalisation): statistics fitted on the training index only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.samples import SampleSet
from gaitgrf.training.normalisation import Normaliser

STATIC_NAMES = ("hka_ipsi_deg", "hka_contra_deg", "affected_left", "ipsi_is_left", "mass_kg")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_set(
    seed: int,
    n: int,
    c: int = 4,
    t: int = 11,
    *,
    nan_fraction: float = 0.0,
    constant_channel: bool = False,
) -> SampleSet:
    rng = np.random.default_rng(seed)
    offset = rng.uniform(-50, 50, size=(1, c, 1))
    scale = 10 ** rng.uniform(-2, 2, size=(1, c, 1))
    inputs = (offset + scale * rng.normal(size=(n, c, t))).astype(np.float32)
    if constant_channel:
        inputs[:, 0, :] = 9.81
    static = np.column_stack(
        [
            rng.normal(-2, 3, n),
            rng.normal(0, 3, n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
            rng.uniform(50, 100, n),
        ]
    ).astype(np.float32)
    for j in (0, 1, 4):  # only features that may be unknown
        static[rng.random(n) < nan_fraction, j] = np.nan
    ids = np.array([f"S{i % 5}" for i in range(n)])
    return SampleSet(
        layout="stance",
        rate_hz=float(t),
        channels=tuple(f"ch{k}" for k in range(c)),
        inputs=inputs,
        targets=rng.normal(size=(n, 3, t)).astype(np.float32),
        static_names=STATIC_NAMES,
        static=static,
        subject_id=ids,
        cohort_id=np.full(n, "lab"),
        trial_id=ids,
        side=np.where(np.arange(n) % 2 == 0, "l", "r"),
        start_s=np.zeros(n),
        duration_s=np.ones(n),
    )


@st.composite
def split(draw: st.DrawFn) -> tuple[SampleSet, np.ndarray]:
    n = draw(st.integers(4, 40))
    samples = make_set(
        draw(st.integers(0, 2**32 - 1)),
        n,
        c=draw(st.integers(1, 6)),
        t=draw(st.integers(1, 21)),
        nan_fraction=draw(st.sampled_from([0.0, 0.3, 1.0])),
        constant_channel=draw(st.booleans()),
    )
    mask = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    mask[draw(st.integers(0, n - 1))] = True  # never empty
    return samples, np.flatnonzero(mask)


@FAST
@given(split())
def test_training_inputs_are_standardised(case: tuple[SampleSet, np.ndarray]) -> None:
    samples, train = case
    norm = Normaliser.fit(samples, train)
    inputs, static = norm.transform(samples)
    assert inputs.dtype == np.float32 and inputs.shape == samples.inputs.shape
    assert static.dtype == np.float32
    x = inputs[train].astype(np.float64)
    mean, std = x.mean(axis=(0, 2)), x.std(axis=(0, 2))
    np.testing.assert_allclose(mean, 0.0, atol=1e-3)
    varying = np.ptp(samples.inputs[train], axis=(0, 2)) > 0
    np.testing.assert_allclose(std[varying], 1.0, rtol=1e-3)
    np.testing.assert_allclose(std[~varying], 0.0, atol=1e-3)  # constant: std 1, stays flat
    # Static: known values of the training samples have mean 0, std 1 (or 0 when constant).
    for j, name in enumerate(STATIC_NAMES):
        col = samples.static[train, j]
        known = ~np.isnan(col)
        if known.any():
            z = static[train][known, j].astype(np.float64)
            assert abs(z.mean()) < 1e-4, name
            assert z.std() == pytest.approx(1.0, rel=1e-4) or col[known].std() == 0, name


@FAST
@given(split(), st.integers(0, 2**32 - 1))
def test_statistics_depend_only_on_training_index(
    case: tuple[SampleSet, np.ndarray], seed: int
) -> None:
    samples, train = case
    outside = np.setdiff1d(np.arange(len(samples)), train)
    other = make_set(seed, len(samples), c=len(samples.channels), t=samples.inputs.shape[2])
    inputs, static = samples.inputs.copy(), samples.static.copy()
    inputs[outside] = other.inputs[outside] * 1e3
    static[outside] = np.nan  # even unknowns outside the index change nothing
    changed = SampleSet(**{**samples.__dict__, "inputs": inputs, "static": static})
    assert Normaliser.fit(changed, train) == Normaliser.fit(samples, train)
    assert Normaliser.fit(changed, train).to_dict() == Normaliser.fit(samples, train).to_dict()


@FAST
@given(split())
def test_transform_is_deterministic_and_refit_idempotent(
    case: tuple[SampleSet, np.ndarray],
) -> None:
    samples, train = case
    a = Normaliser.fit(samples, train)
    b = Normaliser.fit(samples, train)
    first, second = a.transform(samples), b.transform(samples)
    again = a.transform(samples)
    for x, y, z in zip(first, second, again, strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    # Boolean mask and positions give the same fit.
    mask = np.zeros(len(samples), dtype=bool)
    mask[train] = True
    assert Normaliser.fit(samples, mask) == a
    # The input arrays are not modified.
    assert samples.inputs.dtype == np.float32


@FAST
@given(split())
def test_round_trip_through_json_gives_identical_transforms(
    case: tuple[SampleSet, np.ndarray],
) -> None:
    samples, train = case
    norm = Normaliser.fit(samples, train)
    restored = Normaliser.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert restored == norm
    assert restored.static_names_out == norm.static_names_out
    for x, y in zip(norm.transform(samples), restored.transform(samples), strict=True):
        np.testing.assert_array_equal(x, y)


def test_nan_static_becomes_zero_with_indicator() -> None:
    samples = make_set(1, 30, nan_fraction=0.3)
    norm = Normaliser.fit(samples, np.arange(20))
    assert norm.static_names_out == (
        *STATIC_NAMES,
        "hka_ipsi_deg_missing",
        "hka_contra_deg_missing",
        "mass_kg_missing",
    )
    _, static = norm.transform(samples)
    assert static.shape == (30, 8) and not np.isnan(static).any()
    for j, name in ((0, "hka_ipsi_deg"), (1, "hka_contra_deg"), (4, "mass_kg")):
        unknown = np.isnan(samples.static[:, j])
        assert unknown.any() and not unknown.all()
        flag = static[:, norm.static_names_out.index(f"{name}_missing")]
        np.testing.assert_array_equal(flag, unknown.astype(np.float32))
        np.testing.assert_array_equal(static[unknown, j], 0.0)


def test_all_nan_and_constant_static_features() -> None:
    samples = make_set(2, 10)
    samples.static[:, 0] = np.nan  # never known in training
    samples.static[:, 4] = 70.0  # constant
    norm = Normaliser.fit(samples, np.arange(10))
    assert (norm.static_mean[0], norm.static_std[0]) == (0.0, 1.0)
    assert (norm.static_mean[4], norm.static_std[4]) == (70.0, 1.0)
    _, static = norm.transform(samples)
    assert np.all(static[:, 0] == 0) and np.all(static[:, 4] == 0)
    assert np.all(static[:, norm.static_names_out.index("hka_ipsi_deg_missing")] == 1)


def test_zero_by_construction_channel_is_constant() -> None:
    """A channel that is 0 up to float64 rounding (marker-based ankle adduction) gets std 1.

    Its rounding-noise SD (~1e-15) must not become the scale: a recording where the channel
    moves by a few degrees would otherwise reach the model as z-scores of ~1e15.
    """
    samples = make_set(5, 12)
    rng = np.random.default_rng(0)
    samples.inputs[:, 1, :] = (1e-15 * rng.normal(size=samples.inputs[:, 1, :].shape)).astype(
        np.float32
    )
    norm = Normaliser.fit(samples, np.arange(12))
    assert norm.input_std[1] == 1.0
    recording = make_set(6, 4)
    recording.inputs[:, 1, :] = 3.0  # a real recording's few degrees
    inputs, _ = norm.transform(recording)
    assert np.all(np.abs(inputs[:, 1, :]) < 4.0)


def test_targets_and_base_condition() -> None:
    samples = make_set(3, 8)
    base = SampleSet(
        **{**samples.__dict__, "static_names": (), "static": np.zeros((8, 0), np.float32)}
    )
    norm = Normaliser.fit(base, np.arange(4))
    _, static = norm.transform(base)
    assert static.shape == (8, 0) and norm.static_names_out == ()
    assert "target" in json.dumps(norm.to_dict())  # documents that targets stay in BW


def test_guards() -> None:
    samples = make_set(4, 6)
    with pytest.raises(GaitGrfError, match="empty index"):
        Normaliser.fit(samples, np.array([], dtype=int))
    with pytest.raises(GaitGrfError, match="empty index"):
        Normaliser.fit(samples, np.zeros(6, dtype=bool))
    with pytest.raises(GaitGrfError, match="outside"):
        Normaliser.fit(samples, np.array([0, 6]))
    norm = Normaliser.fit(samples, np.arange(3))
    other = make_set(4, 6, c=5)
    with pytest.raises(GaitGrfError, match="channels differ"):
        norm.transform(other)
    bad = samples.static.copy()
    bad[0, 2] = np.nan  # affected_left can never be unknown
    with pytest.raises(GaitGrfError, match="no missing indicator"):
        norm.transform(SampleSet(**{**samples.__dict__, "static": bad}))
    with pytest.raises(GaitGrfError, match="format_version"):
        Normaliser.from_dict({**norm.to_dict(), "format_version": 99})
