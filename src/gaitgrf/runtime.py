"""What a run takes from the outside world: stores, git commit, data version, fixed weights.

The library reads no environment variable by itself: the callers (stages, flows, CLI) pass
`os.environ` here, and everything reads it through these functions, one way. Environment
variables override params.yaml for the stores (`MLFLOW_TRACKING_URI`,
`GAITGRF_OPTUNA_STORAGE`), so a scaled-out setup is configuration only. The DVC stages anchor
relative store paths at the project root before they get here (`core.stores.anchor_stores`
with DVC's `DVC_ROOT`, so experiments in temporary workspaces share the project's stores); the
CLI and flows run in the project root, where relative paths resolve the same way.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from gaitgrf.core.stores import check_outside_dvc_tmp, sqlite_file
from gaitgrf.tracking.client import sqlite_uri
from gaitgrf.tracking.location import relocate_artifacts

if TYPE_CHECKING:
    from gaitgrf.core.config import Params
    from gaitgrf.tracking.client import Tracker

#: Environment variables that override params.yaml for the stores (scaled-out setups).
TRACKING_ENV: Final = "MLFLOW_TRACKING_URI"
STORAGE_ENV: Final = "GAITGRF_OPTUNA_STORAGE"


def redact(url: str) -> str:
    """`url` with any password replaced by `***`: what may be printed, logged or written.

    Store URLs (PostgreSQL, an MLflow server behind basic auth) can carry credentials; nothing
    gaitgrf prints or writes shows them (`user:***@host`). Everything else is left as it was.
    """
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    netloc, sep, tail = rest.partition("/")
    if "@" not in netloc:
        return url
    creds, host = netloc.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{sep}{tail}"


def tracking_uri(params: Params, environ: Mapping[str, str]) -> str:
    """The MLflow store to open: `MLFLOW_TRACKING_URI` from `environ`, else the SQLite file
    `paths.mlflow_db`.

    Every way into the store passes here (stages, flows, CLI, `gaitgrf ui`), so this is where a
    SQLite store that was copied or moved gets its artifact locations brought along
    (`tracking.location.relocate_artifacts`: one query when nothing moved), and where a store
    inside DVC's temporary folder is refused (`core.stores`).
    """
    uri = environ.get(TRACKING_ENV) or sqlite_uri(params.paths.mlflow_db)
    check_outside_dvc_tmp(uri, "the MLflow store (paths.mlflow_db or MLFLOW_TRACKING_URI)")
    if (db := sqlite_file(uri)) is not None:
        relocate_artifacts(db)
    return uri


def storage_url(params: Params, environ: Mapping[str, str]) -> str:
    """Optuna storage: `GAITGRF_OPTUNA_STORAGE`, else params `tune.storage`, else SQLite;
    refused inside DVC's temporary folder (`core.stores`)."""
    url = environ.get(STORAGE_ENV) or params.tune.storage or sqlite_uri(params.paths.optuna_db)
    check_outside_dvc_tmp(url, "the Optuna storage (paths.optuna_db, tune.storage)")
    return url


def open_tracker(
    params: Params, environ: Mapping[str, str], source_name: str = "gaitgrf"
) -> Tracker:
    """The MLflow store of this run (`tracking_uri`) with params' artifact root; every run it
    starts carries MLflow's source tags: `source_name` (the code that runs) and git's HEAD."""
    from gaitgrf.tracking.client import Tracker, source_tags

    check_outside_dvc_tmp(str(params.paths.mlflow_artifacts), "paths.mlflow_artifacts")
    return Tracker(
        tracking_uri(params, environ),
        params.paths.mlflow_artifacts,
        source=source_tags(git_commit(), source_name),
    )


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
