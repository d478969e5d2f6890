"""Import throughput and peak memory on the real shared recordings.

    python benchmarks/import_recordings.py [--repeat 3] [--shared ../shared/data]
        [--out reports/benchmarks/import_recordings.json]

Imports the shared recordings (three Plug-in Gait C3D trials, the OpenSim Subject4 folder: 9
recordings) as one cohort into a temporary folder, `--repeat` times, and reports:
* recordings/s and MB/s of input, best of the repeats, with the per-format split (C3D files
  are larger: 1-5 MB at 1-2 kHz analog; OpenSim trials are 100 Hz text);
* peak traced memory (tracemalloc, a separate untimed run) for 1 and for all subjects: the
  ratio against the ratio of input size shows whether memory stays flat as the input grows
  (recordings are converted and written one at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from gaitgrf.ingest.cohort import import_recordings

ROOT = Path(__file__).resolve().parents[1]
C3D = {"PIG": "btk_PiG_Motion-FlatFoot-Full", "FW": "btk_FunctionalWalk", "KTK": "ktk_walk"}


def source(shared: Path, root: Path, subjects: list[str]) -> tuple[Path, float, int]:
    """A folder of subject folders (copies of the shared files; imports refuse symbolic links):
    (path, input MB, files)."""
    src = root / f"src-{len(subjects)}"
    size, count = 0, 0
    for subject in subjects:
        if subject == "Subject4":
            folder = shared / "opensim" / "Subject4"
            (src / subject).parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(folder, src / subject)
            size += sum(p.stat().st_size for p in folder.iterdir())
            count += len(list(folder.glob("*.trc")))
        else:
            (src / subject).mkdir(parents=True)
            file = shared / "c3d" / f"{C3D[subject]}.c3d"
            shutil.copy(file, src / subject / file.name)
            size += file.stat().st_size
            count += 1
    return src, size / 1e6, count


def run(src: Path, raw: Path, cohort: str) -> None:
    import_recordings(src, cohort, raw, group="healthy", affected_side="none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports" / "benchmarks" / "import_recordings.json"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        everyone = [*C3D, "Subject4"]
        src, mb, count = source(args.shared, root, everyone)
        times = []
        for i in range(args.repeat):
            start = time.perf_counter()
            run(src, root / "raw", f"bench-{i}")
            times.append(time.perf_counter() - start)
        best = min(times)
        per_format: dict[str, Any] = {}
        for name, subjects in (("c3d", list(C3D)), ("opensim", ["Subject4"])):
            fsrc, fmb, fcount = source(args.shared, root / name, subjects)
            start = time.perf_counter()
            run(fsrc, root / name / "raw", "bench")
            seconds = time.perf_counter() - start
            per_format[name] = {
                "recordings": fcount,
                "input_mb": round(fmb, 2),
                "seconds": round(seconds, 3),
                "recordings_per_s": round(fcount / seconds, 2),
            }
        memory = {}
        for label, subjects in (("one_subject", ["KTK"]), ("all", everyone)):
            msrc, mmb, _ = source(args.shared, root / f"mem-{label}", subjects)
            tracemalloc.start()
            run(msrc, root / f"mem-{label}" / "raw", "bench")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            memory[label] = {"input_mb": round(mmb, 2), "peak_mb": round(peak / 1e6, 1)}
    result = {
        "machine": {"cpus": os.cpu_count()},
        "recordings": count,
        "input_mb": round(mb, 2),
        "seconds_best": round(best, 3),
        "seconds_all": [round(t, 3) for t in times],
        "recordings_per_s": round(count / best, 2),
        "input_mb_per_s": round(mb / best, 2),
        "per_format": per_format,
        "peak_memory": memory,
        "peak_ratio_vs_input_ratio": [
            round(memory["all"]["peak_mb"] / memory["one_subject"]["peak_mb"], 2),
            round(memory["all"]["input_mb"] / memory["one_subject"]["input_mb"], 2),
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
