"""What the model stages (tune, evaluate, promote) take from the outside world.

The library never reads environment variables, files it is not given, or git: this module
does, for the stages only. Environment variables override params.yaml for the stores
(`MLFLOW_TRACKING_URI`, `GAITGRF_OPTUNA_STORAGE`), so a scaled-out setup is configuration only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gaitgrf import tracking
from gaitgrf.core.config import Params


def tracking_uri(params: Params) -> str:
    return tracking.tracking_uri(params.paths.mlflow_db, os.environ)


def storage_url(params: Params) -> str:
    return tracking.storage_url(params.paths.optuna_db, params.tune.storage, os.environ)


def git_commit() -> str:
    """HEAD's commit, with `-dirty` when tracked files differ; `unknown` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}-dirty" if dirty else head


def data_version(output: Path, stage: str = "fuse", lock: Path = Path("dvc.lock")) -> str:
    """DVC's hash of a stage output (from dvc.lock), else a sha256 of the files under it."""
    try:
        stages: dict[str, Any] = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
        for out in stages.get(stage, {}).get("outs", []):
            if Path(out["path"]) == output and out.get("md5"):
                return f"dvc:{out['md5']}"
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        pass
    digest = hashlib.sha256()
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        digest.update(path.relative_to(output).as_posix().encode())
        digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()[:32]}"


def fixed_hyperparameters(params: Params, arch: str) -> dict[str, Any]:
    """Hyperparameters set from params.yaml, never searched (ImageNet weights)."""
    from gaitgrf import models

    if not models.get(arch).image_backbone:
        return {}
    weights_dir = params.models.pretrained.weights_dir
    return {
        "pretrained": params.models.pretrained.enabled,
        "weights_dir": str(weights_dir) if weights_dir else None,
    }
