"""Where the state stores live: the Optuna studies, MLflow's database and its artifact folder.

The stores outlive pipeline runs and are shared by every run of the project, so a relative store
path (`paths.optuna_db`, `paths.mlflow_db`, `paths.mlflow_artifacts`, a relative `sqlite:///`
URL in `tune.storage`) means *relative to the project root*: the DVC repository root, where
dvc.yaml's project lives, never the working directory of whoever runs a stage. The two differ
in `dvc exp run --temp` and `--queue`: DVC copies the workspace to `.dvc/tmp/exps/.../tmpXXXX`,
runs the stages there and deletes the copy, so stores opened relative to the working directory
were created in the copy and deleted with it (issue 17). DVC tells every stage the repository it
belongs to (`DVC_ROOT`, the parent repository's root even in a temporary copy); the stage shell
reads it and hands it here (`anchor_stores`), since the library reads no environment.

The data folders (`paths.raw` ... `paths.reports`) are left relative: they are DVC's outputs,
and an experiment writes them in its own workspace.

`check_outside_dvc_tmp` is the guard: whatever path or URL a store finally resolves to, it is
refused inside `.dvc/tmp` (a second, short-lived mlflow.db or optuna.db there is exactly the
bug), with a line saying how to fix it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Final

from gaitgrf.core.errors import GaitGrfError

if TYPE_CHECKING:
    from gaitgrf.core.config import Params

#: The `paths` keys that are stores (outside DVC, shared by every workspace of the project).
STORE_PATHS: Final = ("optuna_db", "mlflow_db", "mlflow_artifacts")
_SQLITE: Final = "sqlite:///"


class StoreError(GaitGrfError):
    hint = (
        "run stages through `dvc repro` / `dvc exp run` (DVC sets DVC_ROOT, the project root) "
        "or give the store an absolute path (docs/configuration.md, `paths`)"
    )


def anchor_stores(params: Params, root: Path) -> Params:
    """`params` with every relative store path joined to the project `root` (see the module).

    Absolute paths and non-SQLite storage URLs are kept as they are; a relative SQLite URL in
    `tune.storage` (`sqlite:///optuna.db`) is anchored like a path.
    """
    paths = params.paths
    anchored = {
        key: root / value for key in STORE_PATHS if not (value := getattr(paths, key)).is_absolute()
    }
    tune = params.tune
    storage = tune.storage
    if storage is not None and storage.startswith(_SQLITE):
        file, sep, query = storage[len(_SQLITE) :].partition("?")
        if file not in ("", ":memory:") and not Path(file).is_absolute():
            storage = f"{_SQLITE}{root / file}{sep}{query}"
    return params.model_copy(
        update={
            "paths": paths.model_copy(update=anchored),
            "tune": tune.model_copy(update={"storage": storage}),
        }
    )


def sqlite_file(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL (query string dropped), else None."""
    if not url.startswith(_SQLITE):
        return None
    return Path(url[len(_SQLITE) :].split("?", 1)[0])


def inside_dvc_tmp(path: Path) -> bool:
    """Whether `path` (made absolute) lies under a `.dvc/tmp` folder: DVC's scratch space,
    experiments' temporary workspaces included, deleted by DVC."""
    parts = path.absolute().parts
    return any(a == ".dvc" and b == "tmp" for a, b in itertools.pairwise(parts))


def check_outside_dvc_tmp(where: str, what: str) -> None:
    """Refuse store `what` (a path or a `sqlite:///` URL, named `what` in the message) when it
    lies inside `.dvc/tmp`, where it would be created in a temporary copy and deleted."""
    file = sqlite_file(where)
    path = file if file is not None else None if "://" in where else Path(where)
    if path is not None and inside_dvc_tmp(path):
        raise StoreError(
            f"{what} resolves to {path.absolute()}, inside DVC's temporary folder .dvc/tmp: "
            "it would be a second store, deleted with the experiment's workspace"
        )
