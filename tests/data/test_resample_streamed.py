"""The resample stage writes its samples as trials complete: same content as the in-memory
path, nothing partial on failure (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core.config import ResampleConfig, SynthConfig
from gaitgrf.core.samples import ARRAYS, SampleSet
from gaitgrf.io.loader import load_cohorts, read_trial
from gaitgrf.pipeline.resample import run as resample_run
from gaitgrf.pipeline.resample.run import ResampleError, resample_cohorts
from gaitgrf.pipeline.resample.segmentation import (
    TrialBlock,
    body_weight_n,
    build_sample_set,
    input_plan,
)

CONFIG = SynthConfig(
    cohort_id="t", subjects=3, walking_trials=2, static_trials=1, trial_duration_s=4.0
)


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gaitgrf.synth import generate_cohort

    root = tmp_path_factory.mktemp("validated")
    generate_cohort(CONFIG, root / CONFIG.cohort_id)
    return root


def _in_memory(validated: Path, cfg: ResampleConfig) -> dict[str, SampleSet]:
    """What the stage wrote before it streamed: every trial's blocks, in trial order, joined
    in memory by `build_sample_set`."""
    cohorts = load_cohorts(validated, read_trials=False)
    walking = [r for co in cohorts for r in co.trials if r.kind == "walking"]
    plan = input_plan(resample_run._common_channels(walking))
    masses = resample_run._masses(cohorts)
    blocks: dict[str, list[TrialBlock]] = {layout: [] for layout in cfg.layouts}
    for co in cohorts:
        for ref in sorted(co.trials, key=lambda r: r.trial_id):
            if ref.kind != "walking":
                continue
            weight = body_weight_n(masses[(ref.cohort_id, ref.subject_id)])
            result = resample_run.process_trial(read_trial(ref), weight, cfg, plan)
            for layout, block in result.blocks.items():
                blocks[layout].append(
                    TrialBlock(ref.cohort_id, ref.subject_id, ref.trial_id, block)
                )
    points = resample_run._points(cfg)
    rates = {"stance": float(cfg.stance_points), "window": float(cfg.rate_hz)}
    return {
        layout: build_sample_set(layout, rates[layout], plan.names, points[layout], blocks[layout])
        for layout in cfg.layouts
    }


def test_streamed_sets_equal_the_in_memory_ones(validated: Path, tmp_path: Path) -> None:
    cfg = ResampleConfig()
    out = tmp_path / "resampled"
    report = resample_cohorts(validated, out, tmp_path / "events.json", cfg, workers=2)
    expected = _in_memory(validated, cfg)
    for layout, want in expected.items():
        got = SampleSet.load(out / f"{layout}.npz")
        assert len(want) > 0 and report["samples"][layout] == len(want)
        assert got.channels == want.channels and got.rate_hz == want.rate_hz
        for name in ARRAYS:
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=f"{layout} {name}")
        assert got.describe() | {"provenance": {}} == want.describe() | {"provenance": {}}
    # nothing but the outputs: no raw part file, no staging folder beside
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_run_leaves_the_previous_output(
    validated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "resampled"
    cfg = ResampleConfig(layouts=("stance",))
    resample_cohorts(validated, out, tmp_path / "events.json", cfg, workers=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real, calls = resample_run.process_trial, []

    def fails_on_the_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(resample_run, "process_trial", fails_on_the_third)
    with pytest.raises(RuntimeError, match="disk full"):
        resample_cohorts(validated, out, tmp_path / "events.json", ResampleConfig(), workers=1)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_output_folder_that_holds_the_input_is_refused(validated: Path) -> None:
    with pytest.raises(ResampleError, match="holds the validated cohorts"):
        resample_cohorts(validated, validated.parent, validated / "r.json", ResampleConfig())
