"""CSV/Parquet exports with a column-mapping file: a real OpenSim trial exported as a table
(markers in mm, force on the plate, COP in mm) must import exactly like the OpenSim files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gaitgrf.core import contract as c
from gaitgrf.ingest.cohort import import_recordings
from gaitgrf.ingest.convert import convert_recording
from gaitgrf.ingest.formats.opensim import read_opensim
from gaitgrf.ingest.formats.recording import RecordingError
from gaitgrf.ingest.formats.tabular import read_table

SUBJECT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "opensim" / "Subject4"
pytestmark = pytest.mark.skipif(not SUBJECT.is_dir(), reason=f"no shared data at {SUBJECT}")
ANGLES = {
    "angle_hip_l_flex": ("hip", "l", "flex"),
    "angle_knee_l_flex": ("knee", "l", "flex"),
    "angle_knee_r_flex": ("knee", "r", "flex"),
}


def export(folder: Path, suffix: str = ".csv") -> tuple[Path, dict]:
    """walking1 as one table plus its mapping, the way a lab's software might export it."""
    rec = read_opensim(SUBJECT / "walking1.trc")
    columns: dict[str, np.ndarray] = {"Time": rec.marker_time}
    markers = {}
    for name, xyz in rec.markers.items():
        cols = [f"{name}:{ax}" for ax in "XYZ"]
        columns |= dict(zip(cols, (1000.0 * xyz).T, strict=True))
        markers[name] = cols
    plates = []
    for i, plate in enumerate(rec.plates, start=1):
        force = [f"F{i}{ax}" for ax in "xyz"]
        cop = [f"COP{i}{ax}" for ax in "xyz"]
        columns |= dict(zip(force, (-plate.force).T, strict=True))  # on the plate
        columns |= dict(zip(cop, (1000.0 * plate.cop).T, strict=True))
        plates.append({"force": force, "cop": cop})
    for channel, key in ANGLES.items():
        columns[channel.upper()] = rec.angles[key]
    mapping = {
        "time": {"column": "Time", "unit": "s"},
        "units": {"length": "mm", "force": "N", "angle": "deg"},
        "force_on": "plate",
        "up": "+y",
        "markers": markers,
        "plates": plates,
        "angles": {channel: channel.upper() for channel in ANGLES},
    }
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / f"walk{suffix}"
    frame = pd.DataFrame(columns)
    if suffix == ".csv":
        frame.to_csv(table, index=False)
    else:
        frame.to_parquet(table)
    (folder / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return table, mapping


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_export_imports_like_the_opensim_files(tmp_path: Path, suffix: str) -> None:
    table, _ = export(tmp_path / "P01", suffix)
    ids = {"trial_id": "T", "subject_id": "S", "cohort_id": "t"}
    reference, _, _ = convert_recording(read_opensim(SUBJECT / "walking1.trc"), **ids)
    rec = read_table(table, tmp_path / "P01" / "mapping.yaml")
    trial, report, _ = convert_recording(rec, **ids)
    for stream in (c.STREAM_GRF, c.STREAM_ACC):
        a, b = trial.streams[stream], reference.streams[stream]
        assert a.channels == b.channels
        np.testing.assert_allclose(a.data, b.data, atol=1e-5, rtol=1e-5)
    kin = trial.streams[c.STREAM_KIN]
    assert trial.extra["angle_sources"]["angle_knee_l_flex"] == "table export"
    np.testing.assert_allclose(
        kin.channel("angle_knee_l_flex"),
        reference.streams[c.STREAM_KIN].channel("angle_knee_l_flex"),
        atol=1e-6,
    )
    assert {e["foot"] for e in report.contacts} == {"l", "r"}


def _rewrite(path: Path, change: dict) -> None:
    mapping = yaml.safe_load(path.read_text())
    for key, value in change.items():
        if value is None:
            mapping.pop(key)
        else:
            mapping[key] = value
    path.write_text(yaml.safe_dump(mapping))


@pytest.mark.parametrize(
    ("change", "channel"),
    [
        ({"units": {"length": "mm", "angle": "deg"}}, "units.force"),
        ({"units": {"length": "inch", "force": "N", "angle": "deg"}}, "units.length"),
        ({"force_on": None}, "force_on"),
        ({"time": {"column": "Time"}}, "time.unit"),
    ],
)
def test_units_and_conventions_must_be_stated(tmp_path: Path, change: dict, channel: str) -> None:
    table, _ = export(tmp_path / "P01")
    _rewrite(tmp_path / "P01" / "mapping.yaml", change)
    with pytest.raises(RecordingError) as info:
        read_table(table, tmp_path / "P01" / "mapping.yaml")
    (v,) = info.value.violations
    assert (v.rule, v.channel) == ("unknown_unit", channel)


def test_a_mapped_column_missing_from_the_table(tmp_path: Path) -> None:
    table, _ = export(tmp_path / "P01")
    _rewrite(tmp_path / "P01" / "mapping.yaml", {"angles": {"angle_knee_l_flex": "KNEE"}})
    with pytest.raises(RecordingError) as info:
        read_table(table, tmp_path / "P01" / "mapping.yaml")
    (v,) = info.value.violations
    assert (v.rule, v.channel, v.file) == ("file_unreadable", "KNEE", str(table))


def test_a_table_without_mapping_is_refused_and_subjects_csv_is_no_recording(
    tmp_path: Path, raw_dir: Path
) -> None:
    table, _ = export(tmp_path / "src" / "P01")
    (tmp_path / "src" / "P01" / "mapping.yaml").unlink()
    (tmp_path / "src" / "subjects.csv").write_text(
        "subject_id,mass_kg,affected_side,group\nP01,62.6,none,healthy\n"
    )
    with pytest.raises(RecordingError) as info:
        import_recordings(tmp_path / "src", "tab", raw_dir, tmp_path / "src" / "subjects.csv")
    (v,) = info.value.violations
    assert (v.rule, v.file) == ("mapping_missing", str(table))
    # A mapping.yaml in the source folder covers every subject folder below it.
    export(tmp_path / "other")
    (tmp_path / "other" / "mapping.yaml").rename(tmp_path / "src" / "mapping.yaml")
    result = import_recordings(tmp_path / "src", "tab", raw_dir, tmp_path / "src" / "subjects.csv")
    assert [r.trial_id for r in result.reports] == ["P01_walk"]
