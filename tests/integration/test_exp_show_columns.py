"""`dvc exp show --only-changed` of a one-parameter experiment fits in 200 columns (issue 17).

A tiny project (tests/support/projects.py: two architectures, both conditions) is bootstrapped,
reproduced and committed; then `dvc exp run -S tune.profiles.smoke.budget.n_trials=1`, as a user
would try a smaller budget. DVC gives every leaf of every metrics file a column (`<file>:<key>`),
so the columns are read from DVC itself. The tiny project has 4 studies of the default 20: the
columns of the stages a `tune` parameter re-runs (tune, evaluate, promote, adapt) are projected to
the default project by counting those that name a study (or its metrics file) per study and those
that name an architecture per architecture; the rest must not grow with either. Every metric cell
must be a number: strings such as a promotion's reason, a model URI or a timestamp belong to the
stages' other outputs.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gaitgrf.core.config import Params
from tests.support.projects import TINY_MODELS, dvc, gaitgrf, git, write_tiny_project

pytestmark = pytest.mark.integration

#: The columns DVC adds to every table (`--csv`): neither metrics, params nor deps.
FIXED = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
#: Metrics files of the stages that a change under `tune` re-runs.
MODEL_STAGE_FILES = re.compile(r"^reports/(tuning|evaluation|promotion|adaptation)/")
LIMIT = 200


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _kinds(project: Path) -> dict[str, tuple[str, str]]:
    """Column name -> (kind, file) for every metric, param and dep `dvc exp show` can list.

    DVC names a column `<key>`, or `<file>:<key>` when two files share the key."""
    out: dict[str, tuple[str, str]] = {}
    revs = json.loads(dvc(project, "exp", "show", "--json"))
    datas = [r["data"] for r in revs] + [
        e["data"] for r in revs for group in r.get("experiments") or [] for e in group["revs"]
    ]
    for data in datas:
        for kind in ("metrics", "params"):
            for file, content in (data.get(kind) or {}).items():
                for key in _leaves(content.get("data") or {}):
                    out[key] = out[f"{file}:{key}"] = (kind, file)
        for path in data.get("deps") or {}:
            out[path] = ("deps", path)
    return out


def _table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    return header, rows


def _projected(columns: list[str]) -> float:
    """How many of `columns` (model-stage metrics of the tiny project) the default project
    has: those naming a study (or its file) scale with the studies, those naming an
    architecture with the architectures; the others are as many."""
    defaults = Params()
    archs, conditions = defaults.models.architectures, defaults.fuse.conditions
    studies = [f"{a}__{c}" for a in TINY_MODELS for c in conditions]
    per_study = [c for c in columns if any(s in c for s in studies)]
    rest = [c for c in columns if c not in per_study]
    per_arch = [c for c in rest if any(re.search(rf"\b{a}\b", c) for a in TINY_MODELS)]
    fixed = len(rest) - len(per_arch)
    return (
        fixed
        + len(per_study) / len(studies) * len(archs) * len(conditions)
        + len(per_arch) / len(TINY_MODELS) * len(archs)
    )


def test_one_parameter_experiment_fits_in_200_columns(tmp_path: Path) -> None:
    project = write_tiny_project(tmp_path / "project")
    gaitgrf(project, "bootstrap", "--params", "params.yaml")
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baseline")

    dvc(project, "exp", "run", "-n", "fewer-trials", "-S", "tune.profiles.smoke.budget.n_trials=1")
    kinds = _kinds(project)
    header, rows = _table(dvc(project, "exp", "show", "--only-changed", "--csv"))
    assert len(header) <= LIMIT, f"{len(header)} columns: {header}"
    named = [c for c in header if c not in FIXED]
    assert not [c for c in named if c not in kinds], kinds
    params = [c for c in named if kinds[c][0] == "params"]
    metrics = [c for c in named if kinds[c][0] == "metrics"]
    deps = [c for c in named if kinds[c][0] == "deps"]
    assert params == ["tune.profiles.smoke.budget.n_trials"]
    assert metrics and all(MODEL_STAGE_FILES.match(kinds[c][1]) for c in metrics), metrics

    # The experiment's params determine its result: the 2-trial studies report 1 trial.
    (exp,) = [r for r in rows if r["Experiment"] == "fewer-trials"]
    for study in ("mlp__base", "cnn1d__subject"):
        file = f"reports/tuning/{study}.json"
        done = sum(
            int(float(exp.get(f"{file}:{key}") or 0))
            for key in ("trials_complete", "trials_pruned")
        )
        assert done == 1, (study, exp)

    # Every metric of every row is a number; the worst case of a one-parameter change (all
    # model-stage metrics change) fits the default project's 20 studies in LIMIT columns.
    header, rows = _table(dvc(project, "exp", "show", "--csv"))
    every = [c for c in header if kinds.get(c, ("", ""))[0] == "metrics"]
    for row in rows:
        for column in every:
            if row[column] not in ("", "-"):
                float(row[column])  # raises on a string: a reason, a URI, a timestamp
    model_columns = [c for c in every if MODEL_STAGE_FILES.match(kinds[c][1])]
    projected = _projected(model_columns) + len(params) + len(deps) + len(FIXED & set(header))
    assert projected <= LIMIT, f"{projected:.0f} columns projected: {model_columns}"
