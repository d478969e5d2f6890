"""dvc.yaml's literal data paths and `gaitgrf.core.artifacts.Artifacts` cannot drift apart.

DVC needs literal paths in dvc.yaml, the library composes them from params.paths: if one side
changes alone, DVC caches and orders stages on files the library no longer writes or reads.
For the project's params.yaml, every path between stages that `Artifacts` returns must be
listed under the stage that writes it (`outs`/`metrics`) and under each stage that reads it
(`deps`), and every data path listed there must be one `Artifacts` returns or lie in a folder
it returns (a stage's report folder).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from gaitgrf.core.artifacts import BUNDLE_DIR, SUMMARY_FILE, Artifacts, set_file
from gaitgrf.core.config import PathsConfig, load_params
from gaitgrf.pipeline.tune.study import study_name
from gaitgrf.pipeline.validate.report import (
    DATA_DOCS_DIR,
    METRICS_FILE,
    METRICS_TABLE_FILE,
)
from gaitgrf.pipeline.validate.report import SUMMARY_FILE as VALIDATION_SUMMARY

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("deps", "outs", "metrics")
#: The tune stage's matrix items, as dvc.yaml writes them.
STUDY = study_name("${item.arch}", "${item.condition}")


def _artifacts() -> Artifacts:
    return Artifacts.from_paths(load_params(REPO / "params.yaml").paths)


def _expected(art: Artifacts) -> dict[str, dict[str, set[Path]]]:
    """Stage -> section -> the paths between stages the library composes for it."""
    validation = art.validation_dir()
    return {
        "inventory": {"deps": {art.raw}, "outs": set(), "metrics": {art.inventory_report()}},
        "validate": {
            "deps": {art.raw},
            "outs": {
                art.validated,
                validation / DATA_DOCS_DIR,
                validation / VALIDATION_SUMMARY,
                validation / METRICS_TABLE_FILE,
            },
            "metrics": {validation / METRICS_FILE},
        },
        "resample": {
            "deps": {art.validated},
            "outs": {art.resampled},
            "metrics": {art.events_report()},
        },
        "fuse": {"deps": {art.resampled}, "outs": {art.fused}, "metrics": set()},
        "tune": {
            "deps": {art.fused},
            "outs": {art.study_dir(STUDY)},
            "metrics": {art.tuning_metrics(STUDY)},
        },
        "evaluate": {
            "deps": {art.tuned, art.fused, art.resampled},
            "outs": {art.evaluation_report()},
            "metrics": {art.evaluation_metrics()},
        },
        "promote": {
            "deps": {art.tuned, art.evaluation_metrics()},
            "outs": {art.promotion_report()},
            "metrics": {art.promotion_metrics()},
        },
    }


def _listed(stage: dict[str, Any], section: str) -> set[Path]:
    """The data paths of one section of a dvc.yaml stage (code deps left out)."""
    out = set()
    for entry in stage.get(section, []):
        path = next(iter(entry)) if isinstance(entry, dict) else entry
        if not path.startswith(("src/", "stages/")):
            out.add(Path(path))
    return out


@pytest.fixture(scope="module")
def dvc_stages() -> dict[str, Any]:
    stages: dict[str, Any] = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return stages


@pytest.mark.parametrize("stage", list(_expected(_artifacts())))
@pytest.mark.parametrize("section", SECTIONS)
def test_dvc_yaml_lists_what_artifacts_composes(
    dvc_stages: dict[str, Any], stage: str, section: str
) -> None:
    art = _artifacts()
    expected = _expected(art)[stage][section]
    listed = _listed(dvc_stages[stage], section)
    assert expected <= listed, f"dvc.yaml {stage}.{section} lacks {sorted(expected - listed)}"
    # The reverse: nothing listed that the library does not compose (or write inside a folder
    # it composes, such as reports/evaluation/ranking.csv).
    folders = {art.evaluation_dir(), art.validation_dir()}
    stray = {p for p in listed - expected if not any(f in p.parents for f in folders)}
    assert not stray, f"dvc.yaml {stage}.{section} lists {sorted(stray)}, unknown to Artifacts"


def test_params_yaml_paths_are_the_defaults() -> None:
    """dvc.yaml is written for the default roots; params.yaml must not move them."""
    assert _artifacts() == Artifacts.from_paths(PathsConfig())


def test_paths_between_stages() -> None:
    art = Artifacts.from_paths(PathsConfig())
    assert art.fused_set("stance", "subject") == Path("data/fused/stance/subject.npz")
    assert art.resampled_set("window") == set_file(Path("data/resampled"), "window")
    assert art.subjects_table() == Path("data/resampled/subjects.csv")
    assert art.events_table() == Path("data/resampled/events.parquet")
    assert art.fuse_summary() == Path("data/fused") / SUMMARY_FILE
    assert art.study_bundle("mlp__base") == Path("data/tuned/mlp__base") / BUNDLE_DIR
    assert art.study_summary("mlp__base") == Path("data/tuned/mlp__base/summary.json")
    assert art.tuning_metrics("mlp__base") == Path("reports/tuning/mlp__base.json")
    assert art.rejected_dir() == Path("reports/rejected")
    assert PurePosixPath(art.promotion_report()) == PurePosixPath("reports/promotion.json")
    assert art.promotion_metrics() == Path("reports/promotion/metrics.json")
