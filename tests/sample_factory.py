"""Small fused sample sets with a learnable input -> force relation, for model-stage tests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from gaitgrf.core.samples import SampleSet

CHANNELS = ("acc_pelvis_x", "acc_pelvis_z", "angle_knee_ipsi_flex", "angle_hip_ipsi_flex")


def make_samples(
    subjects: int = 12, per_subject: int = 10, length: int = 21, static: bool = True, seed: int = 0
) -> tuple[SampleSet, pd.DataFrame]:
    """A stance-layout SampleSet and its subjects table (cohort `tiny`, subjects S01...)."""
    rng = np.random.default_rng(seed)
    n = subjects * per_subject
    t = np.linspace(0, 1, length)
    amplitude = rng.uniform(0.8, 1.2, size=n)
    inputs = rng.normal(0, 0.1, size=(n, len(CHANNELS), length)).astype(np.float32)
    inputs[:, 0, :] += amplitude[:, None] * np.sin(np.pi * t)
    inputs[:, 2, :] += 40 * t
    targets = np.stack(
        [
            amplitude[:, None] * np.sin(np.pi * t) ** 0.5,
            0.2 * amplitude[:, None] * np.sin(2 * np.pi * t),
            0.05 * np.sin(np.pi * t) * np.ones((n, 1)),
        ],
        axis=1,
    ).astype(np.float32)
    ids = np.repeat([f"S{i:02d}" for i in range(subjects)], per_subject)
    hka = rng.normal(0, 5, size=subjects)
    names = ("hka_ipsi_deg", "ipsi_is_affected") if static else ()
    static_arr = (
        np.column_stack([np.repeat(hka, per_subject), rng.integers(0, 2, n)]).astype(np.float32)
        if static
        else np.zeros((n, 0), np.float32)
    )
    samples = SampleSet(
        layout="stance",
        rate_hz=float(length),
        channels=CHANNELS,
        inputs=inputs,
        targets=targets,
        static_names=names,
        static=static_arr,
        subject_id=ids,
        cohort_id=np.repeat("tiny", n),
        trial_id=np.char.add(ids, "_T1"),
        side=np.tile(["l", "r"], n // 2 + 1)[:n],
        start_s=np.zeros(n),
        duration_s=np.full(n, 0.7),
    )
    table = pd.DataFrame(
        {
            "subject_id": [f"S{i:02d}" for i in range(subjects)],
            "cohort_id": "tiny",
            "group": ["healthy", "knee_oa"] * (subjects // 2) + ["healthy"] * (subjects % 2),
            "knee_alignment_left_deg": hka,
            "knee_alignment_right_deg": hka,
        }
    )
    return samples, table


def make_cohorts(**cohorts: int) -> tuple[SampleSet, pd.DataFrame]:
    """`make_samples` once per cohort (name=subjects, 10 samples each), in one set and table.

    Each cohort draws its own curves (seed = its position), so the cohorts differ as two labs do.
    """
    from gaitgrf.core.samples import ARRAYS

    parts = []
    for k, (name, n) in enumerate(cohorts.items()):
        samples, table = make_samples(subjects=n, seed=k)
        parts.append(
            (
                replace(samples, cohort_id=np.repeat(name, len(samples))),
                table.assign(cohort_id=name),
            )
        )
    first = parts[0][0]
    arrays = {a: np.concatenate([getattr(s, a) for s, _ in parts]) for a in ARRAYS}
    merged = replace(first, **arrays)
    return merged, pd.concat([t for _, t in parts], ignore_index=True)


def run_mlp_study(  # type: ignore[no-untyped-def,type-arg]
    root, cfg, tracker=None, *, data_version: str = "test-v1", data=None, progress=None, log=None
) -> dict:
    """One `mlp__subject` study on `data` (samples, subjects table; default `make_samples()`)
    under `root` (SQLite Optuna): its summary.

    The tuning tests and the PostgreSQL/MLflow-server test share this set-up; `tracker` None
    means no MLflow logging; `log` gets the study's log lines (None: dropped).
    """
    from gaitgrf.pipeline.tune.run import StudyRequest, run_study
    from gaitgrf.tracking.client import sqlite_uri

    samples, table = data if data is not None else make_samples()
    out = root / "tuned" / "mlp__subject"
    out.mkdir(parents=True, exist_ok=True)
    request = StudyRequest(
        arch="mlp",
        condition="subject",
        samples=samples,
        subjects=table,
        cfg=cfg,
        storage_url=sqlite_uri(root / "optuna.db"),
        out_dir=out,
        data_version=data_version,
        git_commit="abc",
        tracker=tracker,
        pip_requirements=["torch"],
        log=log or (lambda line: None),
        progress=progress,
    )
    return run_study(request).summary


class StubPredictor:
    """Stands in for a loaded bundle: returns the predictions it was built with."""

    layout = "stance"

    def __init__(self, architecture: str, condition: str, predicted: np.ndarray) -> None:
        import torch

        self.architecture, self.condition, self.predicted = architecture, condition, predicted
        self.network = torch.nn.Linear(2, 3)

    def predict_arrays(self, inputs: np.ndarray, static: np.ndarray) -> np.ndarray:
        return self.predicted[: len(inputs)]
