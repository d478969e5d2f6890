"""Where each stage's outputs live, written once.

A stage's outputs are the next stage's inputs: the fused set `<paths.fused>/<layout>/<condition>
.npz` is written by `fuse` and read by `tune`, `evaluate` and `promote`; the subjects table by
`resample` and read by `fuse`, `tune`, `evaluate` and `promote`; a study's bundle and summary by
`tune` and read by `evaluate`, `promote` and `gaitgrf predict`. Composing such a path in each
reader lets the copies drift apart, so every path between stages is composed here, from the
roots in `params.paths` (`Artifacts.from_paths`). dvc.yaml repeats them literally (DVC needs
literal paths); tests/code/test_artifacts.py checks that the two agree.

The file names are module constants too, for the writers that are handed a folder (a staging
folder, or a test's temporary one) instead of the project's roots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gaitgrf.core.config import PathsConfig

#: Suffix of a sample set's array file (its description is the same name with `.json`).
SET_SUFFIX: Final = ".npz"
#: The subjects of every resampled cohort, one table (`<paths.resampled>/subjects.csv`).
SUBJECTS_TABLE: Final = "subjects.csv"
#: Gait events of every resampled trial (`<paths.resampled>/events.parquet`).
EVENTS_TABLE: Final = "events.parquet"
#: The summary of a stage's folder: fuse (`<paths.fused>/`) and each study (`<paths.tuned>/<s>/`).
SUMMARY_FILE: Final = "summary.json"
#: The refit model bundle inside a study's folder (`GrfPredictor.save`).
BUNDLE_DIR: Final = "model"


def set_file(folder: Path, name: str) -> Path:
    """The array file of sample set `name` (a layout or a condition) in `folder`."""
    return folder / f"{name}{SET_SUFFIX}"


@dataclass(frozen=True)
class Artifacts:
    """The stage roots of `params.paths` and every path between stages composed from them."""

    raw: Path
    validated: Path
    resampled: Path
    fused: Path
    tuned: Path
    reports: Path

    @classmethod
    def from_paths(cls, paths: PathsConfig) -> Artifacts:
        return cls(
            raw=paths.raw,
            validated=paths.validated,
            resampled=paths.resampled,
            fused=paths.fused,
            tuned=paths.tuned,
            reports=paths.reports,
        )

    # --- inventory and validate -----------------------------------------------------------------
    def inventory_report(self) -> Path:
        return self.reports / "inventory.json"

    def validation_dir(self) -> Path:
        """The validate stage's report folder (summary, metrics, trial table, data docs)."""
        return self.reports / "validation"

    def rejected_dir(self) -> Path:
        """Where a cohort refused at intake is moved, with the reason."""
        return self.reports / "rejected"

    # --- resample -------------------------------------------------------------------------------
    def resampled_set(self, layout: str) -> Path:
        return set_file(self.resampled, layout)

    def subjects_table(self) -> Path:
        return self.resampled / SUBJECTS_TABLE

    def events_table(self) -> Path:
        return self.resampled / EVENTS_TABLE

    def events_report(self) -> Path:
        """Force plate vs wearable event agreement (DVC metrics of `resample`)."""
        return self.reports / "events.json"

    # --- fuse -----------------------------------------------------------------------------------
    def fused_set(self, layout: str, condition: str) -> Path:
        return set_file(self.fused / layout, condition)

    def fuse_summary(self) -> Path:
        return self.fused / SUMMARY_FILE

    # --- tune -----------------------------------------------------------------------------------
    def study_dir(self, study: str) -> Path:
        """Study `<arch>__<condition>`'s output folder (one DVC `outs` per tune stage)."""
        return self.tuned / study

    def study_bundle(self, study: str) -> Path:
        return self.study_dir(study) / BUNDLE_DIR

    def study_summary(self, study: str) -> Path:
        return self.study_dir(study) / SUMMARY_FILE

    def tuning_metrics(self, study: str) -> Path:
        return self.reports / "tuning" / f"{study}.json"

    # --- evaluate and promote -------------------------------------------------------------------
    def evaluation_report(self) -> Path:
        return self.reports / "evaluation.md"

    def evaluation_dir(self) -> Path:
        """The evaluation's tables, DVC metrics and plots."""
        return self.reports / "evaluation"

    def evaluation_metrics(self) -> Path:
        return self.evaluation_dir() / "metrics.json"

    def promotion_report(self) -> Path:
        """The decision record (names, reason, timestamp): an output, not a DVC metric."""
        return self.reports / "promotion.json"

    def promotion_metrics(self) -> Path:
        """The decision in numbers: the promote stage's DVC metrics."""
        return self.reports / "promotion" / "metrics.json"

    # --- adapt ----------------------------------------------------------------------------------
    def adaptation_report(self) -> Path:
        return self.reports / "adaptation.md"

    def adaptation_dir(self) -> Path:
        """The adaptation's metrics.json and per-subject table."""
        return self.reports / "adaptation"
