"""No-op `dvc repro` on a finished project, at its own size and with its data stages scaled up.

    python benchmarks/noop_repro.py [--project .] [--scale 10] [--repeats 3] [--tmp DIR]
                                    [--link hardlink] [--out reports/benchmarks/noop_repro.json]
                                    [--profile noop.prof]

Why: once `make run` has finished, `dvc repro` must say "up to date" in seconds however big the
data, which it can only do if it trusts its state database (size, mtime, inode) instead of
re-hashing the outputs. Training a whole project at 100x the default cohort is out of reach on
a small machine, but the question is only about what DVC does with outputs of that size, so this
benchmark builds them as a *stand-in*:

1. The finished project (default: this checkout, after `make run`) is copied to a temporary
   folder (the virtual environment, the DVC remote and tool caches left out; the DVC cache and
   MLflow artifacts hard-linked, since they are only read). `dvc repro` there must find nothing
   to do; it runs once to fill the copy's state database, then `--repeats` times, timed: the
   baseline of the same command.
2. The data stages' outputs (`data/raw`, `data/validated`, `data/resampled`, `data/fused`) grow
   `--scale` times: each trial file of a cohort folder gets `scale - 1` byte copies beside it
   (so file count and bytes both scale, as 100x the subjects would), and each other file is
   replaced by its own bytes repeated `scale` times. The tuning outputs keep their size: a model
   does not grow with the data. `dvc commit --force` (twice, see `run`) then records the new
   hashes (timed: the one full hash a real pipeline pays when it writes them).
3. `dvc repro` is timed `--repeats` times again. None of these runs may start a stage.

The stand-in's files are not valid data for the stages (nothing reads them); they are what DVC
stats and would hash. The copy's cache uses hard links (`--link`, DVC's `cache.type`) so that
committing 42 GB at 100x does not need another 42 GB; `copy` measures DVC's default instead, at
twice the disk. Needs about `(scale - 1)` x the data stages' size of free disk under `--tmp`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Stage outputs that grow with the cohort (dvc.yaml); everything else keeps its size.
DATA_OUTPUTS = ("data/raw", "data/validated", "data/resampled", "data/fused")
#: Left out of the copy: not read by `dvc repro`, and large or machine-specific.
SKIPPED = {".venv", ".dvc-remote", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
#: Hard-linked into the copy instead of copied: read-only for DVC and big.
LINKED = {".dvc/cache", "mlartifacts"}
_BLOCK = 16 << 20


def _dvc(project: Path, *args: str) -> tuple[float, str]:
    """Run `dvc ARGS` in `project`; wall seconds and its output. Fails on a non-zero exit."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    dvc = Path(sys.executable).with_name("dvc")
    start = time.perf_counter()
    done = subprocess.run(
        [str(dvc), *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"error: dvc {' '.join(args)} failed in {project}:\n{output}")
    return wall, output


def _noop_repro(project: Path, repeats: int, profile: Path | None = None) -> list[float]:
    """Wall seconds of `repeats` runs of `dvc repro`; exits if any of them runs a stage.

    With `profile`, one more run after them, untimed (profiling slows DVC about twice), writes
    DVC's own cProfile dump there.
    """
    times = []
    for i in range(repeats + (profile is not None)):
        dump = ("--cprofile-dump", str(profile)) if i == repeats else ()
        wall, output = _dvc(project, "repro", *dump)
        if "Running stage" in output or "up to date" not in output:
            raise SystemExit(
                f"error: dvc repro in {project} was not a no-op (run `make run` first):\n{output}"
            )
        if i < repeats:
            times.append(round(wall, 3))
    return times


def copy_project(project: Path, dest: Path) -> None:
    """Copy `project` to `dest`: `SKIPPED` left out, `LINKED` hard-linked, the rest copied."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(project)
        return {n for n in names if (rel / n).as_posix() in SKIPPED | LINKED}

    shutil.copytree(project, dest, symlinks=True, ignore=ignore)
    for rel in sorted(LINKED):
        if (project / rel).is_dir():
            shutil.copytree(project / rel, dest / rel, symlinks=True, copy_function=os.link)


def _repeat_bytes(path: Path, times: int) -> None:
    """Replace `path` by its own bytes `times` times over (written beside it, then renamed)."""
    part = path.with_name(path.name + ".scaling")
    with part.open("wb") as out:
        for _ in range(times):
            with path.open("rb") as src:
                while block := src.read(_BLOCK):
                    out.write(block)
    os.replace(part, path)


def scale_outputs(project: Path, scale: int) -> dict[str, dict[str, int]]:
    """Grow the data outputs of `project` `scale` times; files and bytes per output after it.

    A folder named `trials` (a cohort's trial files) gets copies of each file under new names;
    any other file is lengthened in place (`_repeat_bytes`). DVC's own files (`*.dvc`,
    `.gitignore`) are left alone.
    """
    sizes = {}
    for rel in DATA_OUTPUTS:
        for path in _data_files(project / rel):
            if path.parent.name == "trials":
                for k in range(2, scale + 1):
                    shutil.copyfile(path, path.with_name(f"{path.stem}_x{k:03d}{path.suffix}"))
            else:
                _repeat_bytes(path, scale)
        after = _data_files(project / rel)
        sizes[rel] = {"files": len(after), "bytes": sum(p.stat().st_size for p in after)}
    return sizes


def _data_files(root: Path) -> list[Path]:
    """The files under `root` that the stand-in grows, sorted: all but DVC's own."""
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".dvc" and p.name != ".gitignore"
    ]


def _data_bytes(project: Path) -> int:
    return sum(p.stat().st_size for rel in DATA_OUTPUTS for p in _data_files(project / rel))


def run(
    project: Path, scale: int, repeats: int, tmp: Path, link: str, profile: Path | None = None
) -> dict[str, Any]:
    """The whole benchmark in a temporary copy of `project` under `tmp`; the figures."""
    if not (project / "dvc.lock").is_file():
        raise SystemExit(f"error: {project} has no dvc.lock: run `make run` there first")
    need = (scale - 1) * _data_bytes(project) * (2 if link == "copy" else 1)
    free = shutil.disk_usage(tmp).free
    if need + (2 << 30) > free:
        raise SystemExit(
            f"error: --scale {scale} needs about {need / 1e9:.1f} GB under {tmp} and "
            f"{free / 1e9:.1f} GB are free (pick a smaller --scale or another --tmp)"
        )
    with tempfile.TemporaryDirectory(prefix="gaitgrf-noop-", dir=tmp) as scratch:
        copy = Path(scratch) / "project"
        print(f"==> copying {project} to {copy}", flush=True)
        copy_project(project, copy)
        _dvc(copy, "config", "--local", "cache.type", link)
        # The copy's files are new inodes: its first run hashes them into its state database.
        (first,) = _noop_repro(copy, 1)
        base = _noop_repro(copy, repeats)
        print(f"==> 1x: first {first:.2f} s, then {base} s; scaling to {scale}x", flush=True)
        start = time.perf_counter()
        sizes = scale_outputs(copy, scale)
        write_s = time.perf_counter() - start
        # Twice: the first rewrites data/raw/<cohort>.dvc, which lies inside the `data/raw`
        # dependency of inventory and validate, so their recorded hash is stale until the second.
        commit_s = sum(_dvc(copy, "commit", "--force")[0] for _ in range(2))
        scaled = _noop_repro(copy, repeats, profile)
        print(f"==> {scale}x: commit {commit_s:.1f} s, then no-op {scaled} s", flush=True)
    median = sorted(scaled)[len(scaled) // 2]
    base_median = sorted(base)[len(base) // 2]
    return {
        "project": str(project),
        "scale": scale,
        "cache_type": link,
        "first_noop_1x_s": round(first, 3),
        "noop_1x_s": base,
        "write_stand_in_s": round(write_s, 1),
        "commit_s": round(commit_s, 1),
        "noop_scaled_s": scaled,
        "ratio_scaled_to_1x": round(median / base_median, 2),
        "outputs_scaled": sizes,
        "load_average_end": list(os.getloadavg()),
        "under_5_s": median < 5.0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO, help="a project after `make run`")
    parser.add_argument("--scale", type=int, default=10, help="growth of the data outputs (>= 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed no-op runs per size")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--link", choices=("hardlink", "copy"), default="hardlink")
    parser.add_argument("--out", type=Path, default=REPO / "reports/benchmarks/noop_repro.json")
    parser.add_argument(
        "--profile", type=Path, help="write DVC's cProfile dump of one more scaled no-op here"
    )
    args = parser.parse_args(argv)
    if args.scale < 2 or args.repeats < 1:
        parser.error("--scale must be >= 2 and --repeats >= 1")
    profile = args.profile.resolve() if args.profile else None
    result = run(args.project.resolve(), args.scale, args.repeats, args.tmp, args.link, profile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "outputs_scaled"}, indent=2))


if __name__ == "__main__":
    main()
