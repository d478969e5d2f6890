"""Write a whole synthetic cohort in the contract format."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from gaitgrf.core import contract as c
from gaitgrf.core.config import SynthConfig
from gaitgrf.io.cohort_store import staged_cohort, write_manifest, write_subjects
from gaitgrf.io.trial_file import write_trial
from gaitgrf.synth.population import draw_subject
from gaitgrf.synth.trials import open_session, simulate_trial

GENERATOR_VERSION = "1.1.0"

Progress = Callable[[int, int], None]


def _trial_kinds(config: SynthConfig) -> list[str]:
    return ["walking"] * config.walking_trials + ["static"] * config.static_trials


def write_subject_trials(index: int, config: SynthConfig, folder: Path) -> int:
    """Simulate and write every trial of subject `index`; one trial in memory at a time."""
    session = open_session(draw_subject(index, config), config.seed)
    kinds = _trial_kinds(config)
    for trial_index, kind in enumerate(kinds):
        trial = simulate_trial(session, trial_index, kind, config.cohort_id, config)
        write_trial(trial, folder / c.TRIALS_DIR / f"{trial.trial_id}{c.TRIAL_SUFFIX}")
    return len(kinds)


def generate_cohort(
    config: SynthConfig,
    out_dir: Path,
    *,
    progress: Progress | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Generate `config.subjects` subjects into `out_dir` (which must not exist).

    Every trial draws from its own seeded stream, so the files are identical whatever `workers`
    is. `progress(done, total)` is called as subjects finish. Returns the manifest.
    """
    subjects = [draw_subject(i, config) for i in range(config.subjects)]
    total = len(subjects) * len(_trial_kinds(config))
    done = 0
    with staged_cohort(out_dir, config.cohort_id) as stage:
        write_subjects([s.csv_row(config.cohort_id) for s in subjects], stage / c.SUBJECTS_FILE)
        if workers <= 1:
            for subject in subjects:
                done += write_subject_trials(subject.index, config, stage)
                if progress is not None:
                    progress(done, total)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [
                    pool.submit(write_subject_trials, s.index, config, stage) for s in subjects
                ]
                for future in as_completed(futures):
                    done += future.result()
                    if progress is not None:
                        progress(done, total)
        source = {
            "kind": "synthetic",
            "generator": "gaitgrf.synth",
            "generator_version": GENERATOR_VERSION,
            "seed": config.seed,
            "config": config.model_dump(mode="json"),
        }
        manifest = write_manifest(stage, config.cohort_id, source)
    return manifest
