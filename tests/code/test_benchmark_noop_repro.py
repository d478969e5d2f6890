"""The stand-in of benchmarks/noop_repro.py grows what DVC would stat and hash, and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("noop_repro", REPO / "benchmarks/noop_repro.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_outputs_copies_trials_lengthens_files_and_leaves_dvc_files(tmp_path: Path) -> None:
    trials = tmp_path / "data/raw/cohort/trials"
    trials.mkdir(parents=True)
    (trials / "S001_walk01.parquet").write_bytes(b"trial")
    (tmp_path / "data/raw/cohort/manifest.json").write_bytes(b"{}")
    (tmp_path / "data/raw/cohort.dvc").write_text("outs: []\n")
    (tmp_path / "data/fused").mkdir(parents=True)
    (tmp_path / "data/fused/inputs.npy").write_bytes(b"0123")
    (tmp_path / "data/tuned").mkdir(parents=True)
    (tmp_path / "data/tuned/model.pt").write_bytes(b"net")

    sizes = _benchmark().scale_outputs(tmp_path, 3)

    copies = sorted(p.name for p in trials.iterdir())
    assert copies == ["S001_walk01.parquet", "S001_walk01_x002.parquet", "S001_walk01_x003.parquet"]
    assert all((trials / name).read_bytes() == b"trial" for name in copies)
    assert (tmp_path / "data/raw/cohort/manifest.json").read_bytes() == b"{}" * 3
    assert (tmp_path / "data/fused/inputs.npy").read_bytes() == b"0123" * 3
    assert (tmp_path / "data/raw/cohort.dvc").read_text() == "outs: []\n"
    assert (tmp_path / "data/tuned/model.pt").read_bytes() == b"net"
    assert sizes["data/raw"] == {"files": 4, "bytes": 3 * 5 + 3 * 2}
    assert sizes["data/fused"] == {"files": 1, "bytes": 12}
    assert sizes["data/validated"] == {"files": 0, "bytes": 0}
    assert not list(tmp_path.rglob("*.scaling"))
