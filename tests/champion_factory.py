"""A real registry with a champion trained on a tiny synthetic cohort, for inference tests.

The cohort goes through the pipeline's own functions (synth -> resample -> fuse -> one short
Optuna study with its refit), so the champion expects exactly the channels and static features a
recording gives: 8 subjects x 2 walking trials of 6 s, a few seconds in all. A second cohort of
one subject (another seed) gives a trial the model has never seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gaitgrf.core.config import FuseConfig, ResampleConfig, SynthConfig, TuneConfig
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.fuse.features import fuse_samples, read_subjects
from gaitgrf.pipeline.resample.run import resample_cohorts
from gaitgrf.pipeline.tune.run import StudyRequest, run_study
from gaitgrf.synth import generate_cohort
from gaitgrf.tracking.client import Tracker, pip_requirements, sqlite_uri
from tests.support.projects import uncapped_budget

MODEL_NAME = "gaitgrf"
TUNE = TuneConfig.with_budget(
    folds=2,
    test_fraction=0.25,
    threads=1,
    budget=uncapped_budget(1, 1, refit_epochs=12),
)


@dataclass(frozen=True)
class Champion:
    root: Path
    tracking_uri: str
    bundle_dir: Path
    #: A walking trial file of a subject the model never saw, and its cohort's subjects.csv.
    unseen_trial: Path
    unseen_subjects: Path
    unseen_subject_id: str


def build_champion(
    root: Path, arch: str = "cnn1d", condition: str = "subject", hp: dict | None = None
) -> Champion:
    raw = root / "raw"
    generate_cohort(
        SynthConfig(
            cohort_id="tiny", subjects=8, walking_trials=2, static_trials=0, trial_duration_s=6.0
        ),
        raw / "tiny",
        workers=1,
    )
    resample_cohorts(
        raw,
        root / "resampled",
        root / "events.json",
        ResampleConfig(layouts=("stance",)),
        workers=1,
    )
    subjects = read_subjects(root / "resampled" / "subjects.csv")
    fused = fuse_samples(SampleSet.load(root / "resampled" / "stance.npz"), subjects, FuseConfig())
    uri = sqlite_uri(root / "mlflow.db")
    tracker = Tracker(uri, root / "artifacts")
    out_dir = root / "tuned" / f"{arch}__{condition}"
    summary = run_study(
        StudyRequest(
            arch=arch,
            condition=condition,
            samples=fused[condition],
            subjects=subjects,
            cfg=TUNE,
            storage_url=sqlite_uri(root / "optuna.db"),
            out_dir=out_dir,
            data_version="v1",
            git_commit="test",
            tracker=tracker,
            fixed_hp=hp,
            pip_requirements=pip_requirements(),
            log=lambda line: None,
        )
    ).summary
    version = tracker.register(
        MODEL_NAME, summary["mlflow"]["model_uri"], summary["mlflow"]["refit_run_id"], {}
    )
    tracker.set_alias(MODEL_NAME, "champion", version)
    unseen = root / "unseen"
    generate_cohort(
        SynthConfig(
            cohort_id="unseen",
            subjects=1,
            seed=777,
            walking_trials=1,
            static_trials=0,
            trial_duration_s=8.0,
            dropout_probability=0.0,
        ),
        unseen / "unseen",
        workers=1,
    )
    trial = sorted((unseen / "unseen" / "trials").glob("*.parquet"))[0]
    sid = read_subjects(unseen / "unseen" / "subjects.csv")["subject_id"].iloc[0]
    return Champion(
        root=root,
        tracking_uri=uri,
        bundle_dir=out_dir / "model",
        unseen_trial=trial,
        unseen_subjects=unseen / "unseen" / "subjects.csv",
        unseen_subject_id=str(sid),
    )


def session_champion(tmp_path_factory: object) -> Champion:
    """The champion of this pytest session, built once whichever test module asks first."""
    import json

    import pytest

    assert isinstance(tmp_path_factory, pytest.TempPathFactory)
    root = tmp_path_factory.getbasetemp() / "champion"
    done = root / "champion.json"
    if done.is_file():
        return Champion(**{k: _restore(k, v) for k, v in json.loads(done.read_text()).items()})
    root.mkdir(parents=True, exist_ok=True)
    made = build_champion(root)
    done.write_text(json.dumps({k: str(v) for k, v in made.__dict__.items()}))
    return made


def _restore(key: str, value: str) -> object:
    return value if key in ("tracking_uri", "unseen_subject_id") else Path(value)
