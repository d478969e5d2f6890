"""Writing cohorts and trials: atomic, immutable, round-trippable."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig
from gaitgrf.core.errors import CohortExistsError
from gaitgrf.io.cohort_store import sha256_file, staged_cohort
from gaitgrf.io.trial_file import Stream, Trial, trial_table, write_trial
from gaitgrf.synth import generate_cohort

TINY = SynthConfig(
    cohort_id="tiny", subjects=2, walking_trials=1, static_trials=0, trial_duration_s=3.0
)


def test_existing_cohort_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    generate_cohort(TINY, out)
    before = {p: sha256_file(p) for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CohortExistsError, match="already exists"):
        generate_cohort(TINY.model_copy(update={"seed": 7}), out)
    assert {p: sha256_file(p) for p in out.rglob("*") if p.is_file()} == before


def test_failed_write_leaves_no_partial_cohort(tmp_path: Path) -> None:
    out = tmp_path / "broken"
    with pytest.raises(RuntimeError), staged_cohort(out, "broken") as stage:
        (stage / "subjects.csv").write_text("half")
        raise RuntimeError("disk full")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_cohort_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must match"), staged_cohort(tmp_path / "X", "Bad Id"):
        pass


def test_manifest_checksums_cover_every_file(tmp_path: Path) -> None:
    manifest = generate_cohort(TINY, tmp_path / "tiny")
    files = {
        p.relative_to(tmp_path / "tiny").as_posix()
        for p in (tmp_path / "tiny").rglob("*")
        if p.is_file() and p.name != c.MANIFEST_FILE
    }
    assert set(manifest["checksums"]) == files
    for rel, digest in manifest["checksums"].items():
        assert digest == f"sha256:{sha256_file(tmp_path / 'tiny' / rel)}"


def test_parallel_generation_gives_identical_files(tmp_path: Path) -> None:
    one = generate_cohort(TINY, tmp_path / "a" / "tiny", workers=1)
    two = generate_cohort(TINY, tmp_path / "b" / "tiny", workers=2)
    assert one["checksums"] == two["checksums"]


def make_trial() -> Trial:
    t_fast = np.arange(0, 1, 1e-3)
    t_slow = np.arange(0, 1, 1e-2)
    fast = Stream("grf", 1000.0, t_fast, ("grf_l_z",), np.ones((t_fast.size, 1)), ("N",))
    slow = Stream(
        "kin",
        100.0,
        t_slow,
        ("angle_knee_l_flex", "angle_knee_r_flex"),
        np.full((t_slow.size, 2), 5.0),
        ("deg", "deg"),
    )
    return Trial(
        "S1_walk01", "S1", "tiny", "walking", {"grf": fast, "kin": slow}, {"speed_mps": 1.2}
    )


def test_trial_table_tags_rows_by_stream_and_nulls_the_rest() -> None:
    table = trial_table(make_trial())
    assert table.num_rows == 1100
    frame = table.to_pandas()
    kin_rows = frame[frame.stream == "kin"]
    assert kin_rows.grf_l_z.isna().all() and (kin_rows.angle_knee_l_flex == 5.0).all()
    assert table.column("grf_l_z").null_count == 100


def test_trial_file_keeps_rates_and_units_in_metadata(tmp_path: Path) -> None:
    path = write_trial(make_trial(), tmp_path / "t.parquet")
    import json

    meta = json.loads(pq.read_schema(path).metadata[c.TRIAL_METADATA_KEY])
    assert meta["channels"]["grf_l_z"] == {"unit": "N", "rate_hz": 1000.0, "stream": "grf"}
    assert meta["channels"]["angle_knee_r_flex"]["rate_hz"] == 100.0
    assert meta["speed_mps"] == 1.2
    assert not list(tmp_path.glob(".*.tmp"))


def test_stream_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Stream("acc", 100.0, np.arange(5.0), ("a", "b"), np.zeros((5, 3)), ("g", "g"))
