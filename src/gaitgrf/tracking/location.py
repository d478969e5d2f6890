"""MLflow artifact locations that move with the project's database (issue 17, item 5).

MLflow keeps every artifact location as an absolute URI in its database: an experiment's
`artifact_location`, each run's `artifact_uri`, each logged model's `artifact_location`, each
model version's `storage_location` (and `source` when it is a path), a trace's
`mlflow.artifactLocation` tag. A copied or moved project therefore read and wrote artifacts in
the old folder. MLflow 3.17 has no relative form: `create_experiment` resolves a relative
location against the working directory (`mlflow.utils.uri.resolve_uri_if_local`), and no API
changes a location afterwards. The other ways out cost more than they give here: an
`mlflow-artifacts:` location needs a tracking server running for every stage, model load and
UI; a custom artifact-repository scheme needs a plugin installed in every MLflow process
(`mlflow ui` included) and a process-wide root. So the database keeps MLflow's absolute
locations, every tool reads it as it is, and gaitgrf adds what makes it portable:

* **A record.** An experiment whose artifact folder lies inside the database's folder (the
  default: `mlflow.db` and `mlartifacts/` side by side in the project root) carries the tag
  `gaitgrf.artifact_location`, its folder relative to the database's (`mlartifacts/gaitgrf-
  tuning`). The Tracker writes it when it creates the experiment; an experiment created before
  (or by MLflow itself, such as `Default`) gets it the first time the store is opened while its
  folder is inside (unless that folder is in DVC's `.dvc/tmp`).
* **A rewrite on open.** `relocate_artifacts` runs whenever the project opens its SQLite store
  (`gaitgrf.runtime.tracking_uri`): if a recorded experiment's location no longer is the
  database's folder joined with the record, the database was copied or moved, and every URI
  under the old location is rewritten to the new one, in one transaction. It is idempotent (a
  second process finds nothing to do) and costs one query when nothing moved.

An artifact folder outside the database's folder (an absolute path on a shared disk, `s3://`,
a tracking server's proxied store) carries no record and is never rewritten: it stays where it
is configured. Two projects sharing one database never rewrite each other's locations: the
record is relative to the database, which does not move when a project does.

The rewrite works on MLflow's tables with the standard library's sqlite3 (no MLflow import, no
MLflow store initialisation); the table and column names are MLflow 3.17's, and
tests/code/test_tracking_location.py checks them against MLflow's ORM models.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

from gaitgrf.core.errors import GaitGrfError
from gaitgrf.core.stores import inside_dvc_tmp, sqlite_file

#: Experiment tag: the experiment's artifact folder relative to the database's folder.
LOCATION_TAG: Final = "gaitgrf.artifact_location"
#: MLflow's trace tag naming a trace's artifact location (`mlflow.utils.mlflow_tags`).
TRACE_LOCATION_TAG: Final = "mlflow.artifactLocation"

#: (table, column, extra condition) of every URI stored under an experiment's location; `?` in
#: the condition is the experiment id.
UNDER_EXPERIMENT: Final = (
    ("runs", "artifact_uri", "experiment_id = ?"),
    ("logged_models", "artifact_location", "experiment_id = ?"),
    ("model_versions", "storage_location", None),
    ("model_versions", "source", None),
    (
        "trace_tags",
        "value",
        f"key = '{TRACE_LOCATION_TAG}' AND request_id IN "
        "(SELECT request_id FROM trace_info WHERE experiment_id = ?)",
    ),
)


def local_path(location: str) -> Path | None:
    """The folder of a local artifact location (`file:///...` or an absolute path), else None."""
    if location.startswith("file:"):
        parts = urlsplit(location)
        return Path(url2pathname(parts.path)) if parts.netloc in ("", "localhost") else None
    path = Path(location)
    return path if path.is_absolute() and "://" not in location else None


def _inside(path: Path, folder: Path) -> str | None:
    """`path` relative to `folder` (posix), or None when it is not inside."""
    try:
        return path.resolve().relative_to(folder).as_posix()
    except ValueError:
        return None


def location_tags(tracking_uri: str, location: str | None) -> dict[str, str]:
    """The record to tag a new experiment with: `{LOCATION_TAG: <folder relative to the
    database's>}` when the store is SQLite and `location` lies inside its folder, else {}."""
    db = sqlite_file(tracking_uri)
    path = local_path(location) if location else None
    if db is None or path is None:
        return {}
    relative = _inside(path, db.resolve().parent)
    return {LOCATION_TAG: relative} if relative is not None else {}


def _located(location: str, path: Path) -> str:
    """`path` written as `location` is (a `file://` URI, or a plain path as MLflow's default)."""
    return path.as_uri() if location.startswith("file:") else str(path)


def _tables(con: sqlite3.Connection) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _rewrite(con: sqlite3.Connection, tables: set[str], exp_id: int, old: str, new: str) -> None:
    """Point experiment `exp_id` and everything stored under `old` at `new` instead."""
    con.execute(
        "UPDATE experiments SET artifact_location = ? "
        "WHERE experiment_id = ? AND artifact_location = ?",
        (new, exp_id, old),
    )
    old_prefix, new_prefix = old.rstrip("/") + "/", new.rstrip("/") + "/"
    n = len(old_prefix)
    for table, column, condition in UNDER_EXPERIMENT:
        if table not in tables or (table == "trace_tags" and "trace_info" not in tables):
            continue
        scope, args = (f" AND {condition}", (exp_id,)) if condition else ("", ())
        con.execute(
            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
            f"WHERE substr({column}, 1, ?) = ?{scope}",
            (new_prefix, n + 1, n, old_prefix, *args),
        )


class RelocationError(GaitGrfError):
    hint = (
        "make the database writable (or stop the process that holds it locked) and run the "
        "command again; nothing was changed"
    )


Adoption = tuple[str, str, int]  # (tag key, relative folder, experiment id): a record to add
Move = tuple[int, str, str, str]  # (experiment id, name, old location, new location)


def _plan(
    rows: list[tuple[int, str, str | None, str | None]], folder: Path
) -> tuple[list[Adoption], list[Move]]:
    """Which experiments get a record, and which moved, for a database in `folder`."""
    adopt: list[Adoption] = []
    moved: list[Move] = []
    for exp_id, name, location, relative in rows:
        path = local_path(location) if location else None
        if location is None or path is None:
            continue
        if relative is None:
            # Not a location in a DVC temporary workspace (MLflow's `Default` experiment of a
            # database first opened from one): that folder is deleted anyway.
            if (inside := _inside(path, folder)) is not None and not inside_dvc_tmp(path):
                adopt.append((LOCATION_TAG, inside, exp_id))
        elif (new := _located(location, folder / relative)) != location:
            moved.append((exp_id, name, location, new))
    return adopt, moved


def relocate_artifacts(db: Path, timeout_s: float = 60.0) -> list[str]:
    """Bring a copied or moved MLflow SQLite store's artifact locations along (see the module);
    the names of the experiments rewritten. Nothing happens to a database that does not exist
    yet or that is not MLflow's (MLflow itself reports a broken one when it opens it).
    `timeout_s`: how long to wait for a lock another process holds on the database."""
    if not db.is_file():
        return []
    con = sqlite3.connect(db, timeout=timeout_s)
    try:
        try:
            tables = _tables(con)
            if not {"experiments", "experiment_tags"} <= tables:
                return []
            rows = con.execute(
                "SELECT e.experiment_id, e.name, e.artifact_location, t.value FROM experiments e"
                " LEFT JOIN experiment_tags t ON t.experiment_id = e.experiment_id AND t.key = ?",
                (LOCATION_TAG,),
            ).fetchall()
        except sqlite3.OperationalError as exc:  # locked past the timeout
            raise RelocationError(f"{db}: cannot check where its artifacts are: {exc}") from None
        except sqlite3.DatabaseError:
            return []
        adopt, moved = _plan(rows, db.resolve().parent)
        if not (adopt or moved):
            return []
        try:
            with con:
                con.executemany(
                    "INSERT OR IGNORE INTO experiment_tags (key, value, experiment_id) "
                    "VALUES (?, ?, ?)",
                    adopt,
                )
                for exp_id, _, old, new in moved:
                    _rewrite(con, tables, exp_id, old, new)
        except sqlite3.OperationalError as exc:
            if not moved:
                return []  # only records to add: nothing is wrong yet, the next open adds them
            raise RelocationError(
                f"{db}: this MLflow store was copied or moved ({moved[0][1]} still points at "
                f"{moved[0][2]}), and its artifact locations could not be rewritten: {exc}"
            ) from None
        return [name for _, name, _, _ in moved]
    finally:
        con.close()
