"""One layout's samples written as trials complete, so the stage never holds a cohort.

A `LayoutSink` appends each trial's samples, in trial order, to raw files beside the output
(`.<layout>.<array>.part`, one per per-sample array); the ids of a trial go once, with its
sample count, to a part file of their own (`.<layout>.ids.part`, a JSON line per trial), not
once per sample, and not in memory: what the sink holds does not grow with the trials (only
with the subjects, whose count the sidecar gives). `write` then builds `<layout>.npz` member
by member from those files in blocks (`gaitgrf.core.npz.write_npz`) and removes them. The
result is the file `build_sample_set(...).save(...)` writes for the same blocks, byte for byte
(the same format, the same dtypes, the same sidecar), so `SampleSet.load`, fuse's streaming
reader and DVC's hash see no difference; `tests/code/test_resample_sink.py` holds the two
paths equal.

Why raw files and not the final `.npz` directly: every member's `.npy` header carries the
sample count, and the zip writes its members one after the other, while trials produce all
arrays at once. Why not `.npy` files named by the sidecar (as fuse writes): fuse reads a
resampled `.npz` in one streaming pass, and the format is the stage's contract with it. The
cost is one extra sequential write and read of the signals (about the size of the output) and
as much temporary disk while the `.npz` is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Final, TextIO

import numpy as np

from gaitgrf.core.npz import MemberSource, write_npz
from gaitgrf.core.samples import ARRAYS, TARGETS, describe_arrays, write_sidecar
from gaitgrf.pipeline.resample.segmentation import SampleBlock

#: Per-sample arrays appended to raw files, and their dtype in the `.npz`.
_RAW: Final[dict[str, np.dtype[Any]]] = {
    "inputs": np.dtype(np.float32),
    "targets": np.dtype(np.float32),
    "side": np.dtype("<U1"),
    "start_s": np.dtype(np.float64),
    "duration_s": np.dtype(np.float64),
}
#: Id arrays and their place in a trial's entry (cohort, subject, trial, samples): one line
#: per trial in the ids part file, repeated per sample when written.
_IDS: Final = {"cohort_id": 0, "subject_id": 1, "trial_id": 2}
#: Bytes copied per block from a raw file into the `.npz`; trials per block of ids (a block of
#: repeated ids grows with the trials up to this cap, so the cap is kept small).
_BLOCK_BYTES = 16 << 20
_IDS_PER_BLOCK = 256


class LayoutSink:
    """Samples of one layout, appended trial by trial; `write` turns them into its `.npz`.

    Memory: the longest id of each kind and the subjects seen (for the sidecar's count), never
    a trial's ids or a sample: those are in the part files. Files are opened on creation;
    `close` (or `write`) closes them and whoever owns the folder removes it on failure (the
    stage writes into a staged folder).
    """

    def __init__(self, folder: Path, layout: str, channels: int, points: int) -> None:
        self.layout = layout
        self.channels = channels
        self.points = points
        self._paths = {name: folder / f".{layout}.{name}.part" for name in _RAW}
        self._files: dict[str, BinaryIO] = {}
        for name, path in self._paths.items():
            self._files[name] = path.open("wb")
        self._ids_path = folder / f".{layout}.ids.part"
        self._ids: TextIO = self._ids_path.open("w", encoding="utf-8")
        self._widths = dict.fromkeys(_IDS, 0)
        self._groups: set[str] = set()  # "cohort/subject" of every trial with samples
        self.samples = 0

    def add(self, cohort_id: str, subject_id: str, trial_id: str, block: SampleBlock) -> None:
        """Append one trial's samples (none: nothing, as `build_sample_set` skips it)."""
        n = len(block)
        if n == 0:
            return
        if block.inputs.shape != (n, self.channels, self.points) or block.targets.shape != (
            n,
            len(TARGETS),
            self.points,
        ):
            raise ValueError(
                f"{cohort_id}/{trial_id}: {self.layout} block of shape {block.inputs.shape} / "
                f"{block.targets.shape}, expected ({n}, {self.channels}, {self.points})"
            )
        side = np.asarray(block.side).astype(str)
        if side.dtype != _RAW["side"]:
            raise ValueError(f"{cohort_id}/{trial_id}: sides must be one letter, got {side}")
        arrays = {
            "inputs": block.inputs,
            "targets": block.targets,
            "side": side,
            "start_s": block.start_s,
            "duration_s": block.duration_s,
        }
        for name, dtype in _RAW.items():
            values = np.ascontiguousarray(arrays[name], dtype=dtype)
            self._files[name].write(values.reshape(-1).view(np.uint8).tobytes())
        entry = (cohort_id, subject_id, trial_id, n)
        self._ids.write(json.dumps(entry) + "\n")
        for name, column in _IDS.items():
            self._widths[name] = max(self._widths[name], len(str(entry[column])))
        self._groups.add(f"{cohort_id}/{subject_id}")
        self.samples += n

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._ids.close()

    def write(
        self,
        path: Path,
        rate_hz: float,
        names: tuple[str, ...],
        provenance: Mapping[str, Any],
    ) -> Path:
        """Write `path` (`.npz` + `.json` sidecar) from what was added; remove the raw files."""
        self.close()
        n = self.samples
        shapes: dict[str, tuple[int, ...]] = {
            "inputs": (n, self.channels, self.points),
            "targets": (n, len(TARGETS), self.points),
            "static": (n, 0),
            **{name: (n,) for name in (*_IDS, "side", "start_s", "duration_s")},
        }
        # one buffer for every member: `write_npz` has written a block before it asks for the
        # next, and a fresh `bytes` per block (or a buffer per member) left two or three 16 MB
        # blocks in memory at once
        buffer = memoryview(bytearray(_BLOCK_BYTES))
        members = [
            MemberSource(name, self._dtype(name), shapes[name], self._chunks(name, buffer))
            for name in ARRAYS
        ]
        write_npz(path, members)
        for raw in (*self._paths.values(), self._ids_path):
            raw.unlink()
        meta = describe_arrays(
            self.layout,
            float(rate_hz),
            samples=n,
            subjects=len(self._groups),
            shapes=shapes,
            channels=tuple(names),
            static_names=(),
            provenance=dict(provenance),
        )
        write_sidecar(path, meta)
        return path

    def _dtype(self, name: str) -> np.dtype[Any]:
        if name in _RAW:
            return _RAW[name]
        if name == "static":
            return np.dtype(np.float32)
        return np.dtype(f"<U{max(1, self._widths[name])}")  # as np.array over the ids gives

    def _chunks(self, name: str, buffer: memoryview) -> Iterator[Any]:
        """The bytes of array `name` in blocks: read from its raw file into `buffer` (each block
        is valid until the next is asked for), or repeated ids."""
        if name in _RAW:
            with self._paths[name].open("rb", buffering=0) as fh:
                while got := fh.readinto(buffer):
                    yield buffer[:got]
        elif name in _IDS:
            column, dtype = _IDS[name], self._dtype(name)
            with self._ids_path.open(encoding="utf-8") as fh:
                while part := [json.loads(line) for line in islice(fh, _IDS_PER_BLOCK)]:
                    ids = np.array([t[column] for t in part], dtype=dtype)
                    yield np.repeat(ids, [t[3] for t in part])


def sinks(
    folder: Path, layouts: list[str], channels: int, points: Mapping[str, int]
) -> dict[str, LayoutSink]:
    """One sink per layout in `folder`; on a failure while opening, those opened are closed."""
    opened: dict[str, LayoutSink] = {}
    try:
        for layout in layouts:
            opened[layout] = LayoutSink(folder, layout, channels, points[layout])
    except BaseException:
        for sink in opened.values():
            sink.close()
        raise
    return opened
