"""Temporary gaitgrf projects for end-to-end tests, and the commands run in them.

A *tiny project* is this repository's pipeline files (params.yaml, dvc.yaml, stages/, src/ as
the stage dependencies) copied into a temporary folder with a tiny synthetic cohort, two light
architectures and a one-epoch budget, so the whole `dvc repro` runs for real in seconds. A
*tuning project* holds only fused samples, a subjects table and params.yaml: what a tune stage
or worker reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from gaitgrf.core import contract as c
from gaitgrf.core.artifacts import Artifacts
from gaitgrf.core.config import BudgetConfig, Params
from tests.sample_factory import make_samples

REPO = Path(__file__).resolve().parents[2]
COPIED = [
    "params.yaml",
    "dvc.yaml",
    ".dvcignore",
    ".gitignore",
    "data/.gitignore",
    "data/raw/.gitignore",
    "reports/validation/.gitignore",
]
COPIED_TREES = ["stages", "src"]
TINY_SYNTH = {
    "subjects": 3,
    "walking_trials": 1,
    "static_trials": 1,
    "trial_duration_s": 4.0,
    "static_duration_s": 1.0,
}

#: Two light architectures with a one-epoch budget: the model stages run for real, in seconds.
TINY_MODELS = ("mlp", "cnn1d")
TINY_BUDGET = {
    "n_trials": 2,
    "timeout_s": None,
    "epochs": 1,
    "max_train_samples": 64,
    "max_val_samples": 64,
    "max_refit_samples": 64,
}
MODEL_STAGES = sorted(
    [f"tune@{a}-{c}" for a in TINY_MODELS for c in ("base", "subject")]
    + ["evaluate", "promote", "adapt"]
)


def write_tiny_project(
    root: Path,
    architectures: Sequence[str] = TINY_MODELS,
    trees: Sequence[str] = COPIED_TREES,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Copy the pipeline files and `trees` into `root`, params.yaml made tiny (then `edit`ed)."""
    for rel in COPIED:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    for rel in trees:
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["synth"].update(TINY_SYNTH)
    params["models"]["architectures"] = list(architectures)
    params["tune"]["folds"] = 2
    params["tune"]["profiles"][params["tune"]["profile"]]["budget"].update(TINY_BUDGET)
    if edit is not None:
        edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def uncapped_budget(n_trials: int, epochs: int, **fields: Any) -> BudgetConfig:
    """A budget of `n_trials` x `epochs` that trains, validates and refits on every sample.

    The tests' sample sets are tiny, so the default profile's sample caps would only hide
    samples; `fields` sets the rest (timeout, refit epochs, ...).
    """
    return BudgetConfig(
        n_trials=n_trials,
        epochs=epochs,
        max_train_samples=None,
        max_val_samples=None,
        max_refit_samples=None,
        **fields,
    )


def write_tuning_project(
    root: Path,
    n_trials: int,
    epochs: int,
    threads: int | None = None,
    startup_trials: int | None = None,
) -> Path:
    """Fused data, subjects table and params.yaml with a small budget, in `root`.

    10 subjects x 20 stance samples (`sample_factory.make_samples`), two folds, no sample caps;
    `startup_trials` (the pruner's) set to `n_trials` means no trial is pruned.
    """
    samples, table = make_samples(subjects=10, per_subject=20)
    art = Artifacts.from_paths(Params().paths)
    samples.save(root / art.fused_set("stance", "subject"))
    full = table.assign(
        sex="female", age_years=50.0, mass_kg=70.0, height_m=1.7, affected_side="none"
    )[list(c.SUBJECT_COLUMNS)]
    (root / art.resampled).mkdir(parents=True)
    full.to_csv(root / art.subjects_table(), index=False)
    params = Params().model_dump(mode="json", by_alias=True)
    params["tune"].update(folds=2, test_fraction=0.2, threads=threads)
    params["tune"]["profiles"][params["tune"]["profile"]]["budget"].update(
        n_trials=n_trials,
        timeout_s=None,
        epochs=epochs,
        patience=0,
        max_train_samples=None,
        max_val_samples=None,
        max_refit_samples=None,
    )
    if startup_trials is not None:
        params["tune"]["pruner"]["startup_trials"] = startup_trials
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def command_env() -> dict[str, str]:
    """This environment, with this interpreter first on PATH and DVC analytics off."""
    env = dict(os.environ)
    # The stage command is `python -m stages.inventory`: it must find this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """A Prefect client of its own (PREFECT_HOME), ephemeral server, no analytics; `flows` found."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_ENABLED="true",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
        DO_NOT_TRACK="true",
        # `flows` lives at the project root, next to stages/; the package itself is installed.
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def run_ok(cwd: Path, *args: str) -> str:
    """Run a command that must succeed; its stdout + stderr."""
    proc = subprocess.run(
        list(args), cwd=cwd, env=command_env(), capture_output=True, text=True, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{output}"
    return output


def run_in_own_group(
    args: Sequence[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, str]:
    """Run `args` as the leader of a new process group; its exit code and stdout + stderr.

    Output goes to a file, not a pipe: a Dask or Prefect grandchild that outlives the command
    would otherwise hold the pipe open and `subprocess.run` wait on it past any timeout. When
    the command ends, or runs past `timeout` (the test then fails with its output), the whole
    group is killed, so no worker outlives the test.
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.seek(0)
        output = log.read()
    if code is None:
        raise AssertionError(f"{' '.join(args)} ran past {timeout:.0f} s:\n{output[-8000:]}")
    return code, output


def run_fails(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command expected to fail with exit code 1 and a clean message (no traceback)."""
    proc = subprocess.run(
        list(args), cwd=cwd, env=command_env(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def gaitgrf(cwd: Path, *args: str) -> str:
    return run_ok(cwd, sys.executable, "-m", "gaitgrf.cli", *args)


def dvc(cwd: Path, *args: str) -> str:
    return run_ok(cwd, sys.executable, "-m", "dvc", *args)


def git(cwd: Path, *args: str) -> str:
    return run_ok(cwd, "git", *args)


def add_cohort_to(project: Path, src: Path, **options: Any) -> Any:
    """`gaitgrf.ingest.intake.add_cohort` of `src` into `project` with the default rules."""
    from gaitgrf.core.config import ContractConfig, ValidateConfig
    from gaitgrf.ingest.intake import add_cohort

    return add_cohort(
        src,
        root=project,
        raw_dir=project / "data" / "raw",
        contract=ContractConfig(),
        rules=ValidateConfig(),
        rejected_dir=project / "reports" / "rejected",
        **options,
    )
