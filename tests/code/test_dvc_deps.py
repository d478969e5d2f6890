"""dvc.yaml's `deps:` cover every project file each stage imports.

DVC re-runs a stage only when one of its deps changed, so a module a stage imports but does not
list is an edit `dvc repro` silently skips. The deps name folders (over-approximating, safe); this
test proves they are enough. Each stage's import graph is derived statically from its `cmd`
module (`python -m stages.x`): every `import gaitgrf...`, `from gaitgrf... import` and
`from stages... import`, inside functions too, the `__init__` of every package on the way, and
`from pkg import name` as the submodule `pkg.name` where that is a module. Imports under
`if TYPE_CHECKING:` never run, so they add nothing (they would tie every data stage to
gaitgrf/models/base.py).
The model registry imports an architecture by name (importlib, `gaitgrf.models.REGISTRY`):
`tune@<arch>-<condition>` builds only its own architecture, so it also needs that module; a stage
loading tuned bundles (it reaches gaitgrf/predictor.py: evaluate, promote) may build any
architecture of params.yaml, so it needs them all. A dep covers a file when it is that file or a
folder above it.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gaitgrf.models import REGISTRY

REPO = Path(__file__).resolve().parents[2]
#: Top-level project package -> the folder that holds it.
ROOTS = {"gaitgrf": REPO / "src", "stages": REPO}
#: Builds networks by registry name when it loads a bundle (GrfPredictor.load -> models.build).
PREDICTOR = REPO / "src" / "gaitgrf" / "predictor.py"
ITEM = re.compile(r"\$\{item\.(\w+)\}")
PARAM = re.compile(r"^\$\{([\w.]+)\}$")


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # the `python -m` module of its cmd
    deps: tuple[str, ...]
    #: Modules imported by name at run time (importlib), beyond what the source shows.
    dynamic: tuple[str, ...] = ()


def module_file(name: str) -> Path | None:
    """The source file of project module `name` (a module or a package's __init__.py)."""
    parts = name.split(".")
    if parts[0] not in ROOTS:
        return None
    base = ROOTS[parts[0]].joinpath(*parts)
    for candidate in (base.parent / f"{base.name}.py", base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of `from X import ...`, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and _type_checking_only(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return nodes


def imports_of(path: Path, module: str) -> set[str]:
    """Project modules `module` (source `path`) imports when it runs, anywhere in its body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in _run_time_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, path.name == "__init__.py")
            found.add(base)
            submodules = (f"{base}.{alias.name}" for alias in node.names)
            found.update(name for name in submodules if module_file(name))
    return {name for name in found if name.split(".")[0] in ROOTS}


def import_closure(start: str, dynamic: tuple[str, ...] = ()) -> dict[Path, str]:
    """Every project file `start` (and `dynamic`) load -> the module that first imported it."""
    todo = [(start, "the stage's cmd")]
    todo += [(name, "gaitgrf.models registry (importlib)") for name in dynamic]
    seen: set[str] = set()
    files: dict[Path, str] = {}
    while todo:
        name, importer = todo.pop()
        parts = name.split(".")
        for mod in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            if mod in seen:
                continue
            seen.add(mod)
            path = module_file(mod)
            assert path is not None, f"{importer} imports {mod}, which has no source file"
            files[path] = importer
            todo.extend((child, mod) for child in imports_of(path, mod))
    return files


def covered(rel: str, deps: tuple[str, ...]) -> bool:
    return any(rel == dep or rel.startswith(f"{dep}/") for dep in deps)


def uncovered(stage: Stage) -> list[str]:
    """The stage's imported files that none of its deps covers (repo-relative, sorted)."""
    deps = tuple(dep.rstrip("/") for dep in stage.deps)
    files = import_closure(stage.module, stage.dynamic)
    return sorted(
        rel for rel in (p.relative_to(REPO).as_posix() for p in files) if not covered(rel, deps)
    )


def _param(params: Mapping[str, Any], ref: str) -> list[str]:
    """A matrix axis `${a.b}`: a list from params.yaml, or a mapping's keys."""
    match = PARAM.match(ref)
    assert match, f"matrix axis {ref!r} is not a `${{params.key}}` reference"
    value: Any = params
    for key in match.group(1).split("."):
        value = value[key]
    return [str(v) for v in value]


def _registry_modules(module: str, item: Mapping[str, str], params: Mapping[str, Any]) -> tuple:
    """Architecture modules the stage imports through the registry (see the module docstring)."""
    if "arch" in item:
        return (REGISTRY[item["arch"]],)
    if PREDICTOR in import_closure(module):
        return tuple(REGISTRY[arch] for arch in params["models"]["architectures"])
    return ()


def _stage(
    name: str, body: Mapping[str, Any], item: Mapping[str, str], params: Mapping[str, Any]
) -> Stage:
    def fill(text: str) -> str:
        return ITEM.sub(lambda m: item[m.group(1)], text)

    cmd = fill(body["cmd"]).split()
    assert "-m" in cmd, f"{name}: cmd {body['cmd']!r} is not `python -m module`"
    module = cmd[cmd.index("-m") + 1]
    deps = tuple(fill(dep) for dep in body.get("deps", []))
    return Stage(name, module, deps, _registry_modules(module, item, params))


def pipeline_stages() -> list[Stage]:
    """dvc.yaml's stages, a matrix stage expanded over params.yaml (`name@a-b`, as DVC names it)."""
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stages = []
    for name, body in dvc["stages"].items():
        if "matrix" not in body:
            stages.append(_stage(name, body, {}, params))
            continue
        axes = {key: _param(params, ref) for key, ref in body["matrix"].items()}
        for values in itertools.product(*axes.values()):
            item = dict(zip(axes, values, strict=True))
            stages.append(_stage(f"{name}@{'-'.join(values)}", body, item, params))
    return stages


STAGES = {stage.name: stage for stage in pipeline_stages()}


def test_matrix_expands_to_every_study() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tunes = [name for name in STAGES if name.startswith("tune@")]
    assert len(tunes) == len(params["models"]["architectures"]) * len(params["fuse"]["conditions"])
    assert "tune@mlp-base" in tunes and "inventory" in STAGES and "promote" in STAGES


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_every_imported_file(name: str) -> None:
    stage = STAGES[name]
    closure = import_closure(stage.module, stage.dynamic)
    importers = {p.relative_to(REPO).as_posix(): m for p, m in closure.items()}
    missing = uncovered(stage)
    assert not missing, f"stage {name}: imported files not covered by its deps in dvc.yaml:\n" + (
        "\n".join(f"  {rel} (imported by {importers[rel]})" for rel in missing)
    )


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_exist(name: str) -> None:
    """DVC refuses to run a stage whose dep is missing: every code dep is a real path."""
    code = [dep for dep in STAGES[name].deps if dep.startswith(("src/", "stages/"))]
    assert code, f"stage {name} lists no code"
    missing = [dep for dep in code if not (REPO / dep).exists()]
    assert not missing, f"stage {name}: deps in dvc.yaml that do not exist: {missing}"


@pytest.mark.parametrize(
    ("name", "dropped", "known"),
    [
        ("inventory", "src/gaitgrf/io", "src/gaitgrf/io/loader.py"),
        ("tune@mlp-base", "src/gaitgrf/models/mlp.py", "src/gaitgrf/models/mlp.py"),
    ],
)
def test_checker_reports_exactly_the_files_a_dropped_dep_covered(
    name: str, dropped: str, known: str
) -> None:
    """The check can fail: without one dep, exactly the files under it are reported."""
    stage = STAGES[name]
    assert dropped in stage.deps and not uncovered(stage)
    cut = replace(stage, deps=tuple(dep for dep in stage.deps if dep != dropped))
    files = [p.relative_to(REPO).as_posix() for p in import_closure(stage.module, stage.dynamic)]
    expected = sorted(rel for rel in files if covered(rel, (dropped,)))
    assert known in expected
    assert uncovered(cut) == expected
