"""One layout of the `fuse` stage, streamed: the shared arrays and the conditions that map them.

All conditions of a layout share the same `inputs` and `targets`, so they are written once, as
`inputs.npy` and `targets.npy` beside the condition files, whose sidecars name them
(`SampleSet.load` reads them back transparently). The big arrays are streamed: one pass over
the resampled `.npz` in blocks of samples hashes it, selects the channels of each block and
writes it out, so time is a few memory copies per byte and memory stays flat however big the
cohort (docs/features.md, "Speed and memory").
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
import pandas as pd

from gaitgrf.core.config import FuseConfig
from gaitgrf.core.npz import NpyMember, npz_members
from gaitgrf.core.samples import ARRAYS, SHAREABLE, SampleSet
from gaitgrf.io.cohort_store import sha256_file
from gaitgrf.pipeline.fuse.features import FeatureError, channel_index, fuse_samples

#: The files, in each `<layout>/` folder, that hold the arrays all its conditions share.
SHARED_FILES: Final[dict[str, str]] = {name: f"{name}.npy" for name in SHAREABLE}
#: Bytes of resampled inputs read per block when streaming: big enough that per-block overhead
#: vanishes, small enough that memory does not grow with the cohort.
_BLOCK_BYTES = 16 << 20


def fuse_layout(
    source: Path, layout: str, staging: Path, subjects: pd.DataFrame, cfg: FuseConfig
) -> tuple[dict[str, SampleSet], str]:
    """Fuse one resampled file into `staging`: the shared `.npy` files, and the conditions.

    Returns the conditions (their `inputs` and `targets` memory-map the shared files just
    written, so nothing big stays in memory) and the sha256 of `source`.

    The conditions come from `fuse_samples` run on a *skeleton* of the source: every array but
    the two big ones, which keep their sample and channel counts with no time points. Checks,
    channel order, static features and provenance are thus exactly those of `fuse_samples`; the
    signals themselves are streamed by `_stream`. A source whose arrays cannot be streamed (a
    compressed `.npz`, say) is fused in memory instead, with the same result.
    """
    try:
        members = _npz_members(source)
        samples = SampleSet.load(source) if members is None else _skeleton(source, members)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{source}: cannot be read as a sample set ({exc})") from None
    if samples.layout != layout:
        raise FeatureError(f"{source}: holds layout {samples.layout!r}, not {layout!r}")
    fused = fuse_samples(samples, subjects, cfg)
    staging.mkdir(parents=True, exist_ok=True)
    if members is None:
        source_sha = sha256_file(source)
        first = next(iter(fused.values()))
        for name, file in SHARED_FILES.items():
            np.save(staging / file, getattr(first, name))
    else:
        _, index = channel_index(samples, cfg.sensors, cfg.kinematics, cfg.physics)
        source_sha = _stream(source, members, index, staging)
    shared = {
        name: np.load(staging / file, mmap_mode="r", allow_pickle=False)
        for name, file in SHARED_FILES.items()
    }
    return {name: replace(s, **shared) for name, s in fused.items()}, source_sha


def _npz_members(path: Path) -> dict[str, NpyMember] | None:
    """The arrays of the `.npz` at `path` and where they lie; None if they cannot be streamed.

    `np.savez` stores members uncompressed, so each is a plain `.npy` file at a known offset
    that can be read in blocks (`gaitgrf.core.npz.npz_members`). A file whose `inputs` and
    `targets` are not both there as 3-d arrays gives None too (the caller then loads the file
    the ordinary way, which also reports any real damage).
    """
    members = npz_members(path)
    if members is None:
        return None
    big = [members.get(name) for name in SHAREABLE]
    if any(m is None or len(m.shape) != 3 for m in big):
        return None
    return members


def _skeleton(source: Path, members: Mapping[str, NpyMember]) -> SampleSet:
    """The set at `source` without its signals: `inputs` and `targets` have no time points.

    Zero-length arrays cost no memory yet carry the sample and channel counts, so the
    `SampleSet` checks and everything `fuse_samples` does apart from copying signals still run.
    """
    inputs, targets = members["inputs"], members["targets"]
    if inputs.shape[2] != targets.shape[2]:
        raise ValueError(f"targets {targets.shape} do not match inputs {inputs.shape}")
    meta = json.loads(source.with_suffix(".json").read_text())
    with np.load(source, allow_pickle=False) as data:
        arrays = {name: data[name] for name in ARRAYS if name not in SHAREABLE}
    return SampleSet(
        layout=meta["layout"],
        rate_hz=float(meta["rate_hz"]),
        channels=tuple(meta["channels"]),
        static_names=tuple(meta["static_names"]),
        provenance=meta.get("provenance", {}),
        inputs=np.empty((*inputs.shape[:2], 0), dtype=inputs.dtype),
        targets=np.empty((*targets.shape[:2], 0), dtype=targets.dtype),
        **arrays,
    )


def _stream(
    source: Path, members: Mapping[str, NpyMember], index: Sequence[int], staging: Path
) -> str:
    """One pass over `source`: hash it, write its inputs' channels `index` and its targets.

    Reads the file front to back exactly once. Every byte feeds the sha256; the inputs arrive
    in blocks of whole samples (`_BLOCK_BYTES`), each reduced to the selected channels with one
    `take` and appended to `inputs.npy`; the targets member, already a complete `.npy` file, is
    copied byte for byte to `targets.npy`. Returns the sha256 (hex) of `source`.

    Hashing and writing each cost about as much as reading and selecting together, and all
    three release the GIL, so blocks flow through a pipeline: while this thread reads and
    selects block i, one helper thread hashes it (in file order: a single worker) and another
    writes block i - 1. Two slots of buffers alternate; a slot is refilled only once its hash
    and its write are done, so memory is four block buffers, whatever the size of the file.
    """
    inputs = members["inputs"]
    n, channels, t = inputs.shape
    rows = max(1, min(n, _BLOCK_BYTES // max(1, channels * t * inputs.dtype.itemsize)))
    slots = [
        (
            np.empty((rows, channels, t), dtype=inputs.dtype),
            np.empty((rows, len(index), t), dtype=inputs.dtype),
        )
        for _ in range(2)
    ]
    hashed: list[Future[Any] | None] = [None, None]
    written: list[Future[Any] | None] = [None, None]
    header = {
        "descr": np.lib.format.dtype_to_descr(inputs.dtype),
        "fortran_order": False,
        "shape": (n, len(index), t),
    }
    with (
        source.open("rb") as fh,
        (staging / SHARED_FILES["inputs"]).open("wb") as inputs_out,
        (staging / SHARED_FILES["targets"]).open("wb") as targets_out,
        ThreadPoolExecutor(1, "fuse-hash") as hasher,
        ThreadPoolExecutor(1, "fuse-write") as writer,
    ):
        reader = _HashingReader(fh, hasher)
        np.lib.format.write_array_header_1_0(inputs_out, header)
        for name in sorted(SHAREABLE, key=lambda name: members[name].start):
            member = members[name]
            if name == "targets":
                reader.copy(member.start, None)
                reader.copy(member.end, targets_out)
                continue
            reader.copy(member.data, None)
            for j, first in enumerate(range(0, n, rows)):
                k, slot = min(rows, n - first), j % 2
                block, picked = slots[slot]
                _finish(hashed[slot])
                hashed[slot] = reader.read_into(block[:k])
                _finish(written[slot])
                np.take(block[:k], index, axis=1, out=picked[:k])
                written[slot] = writer.submit(inputs_out.write, picked[:k].data)
            for future in hashed + written:
                _finish(future)
        reader.copy(None, None)
        return reader.hexdigest()


def _finish(future: Future[Any] | None) -> None:
    """Wait for a helper thread's job; its exception, if any, is raised here."""
    if future is not None:
        future.result()


class _HashingReader:
    """Reads a file front to back once, feeding every byte, in order, to a sha256.

    Blocks read with `read_into` are hashed on `hasher` (one worker, so jobs run in submission
    order); `copy` first waits for those, then hashes its own bytes here.
    """

    _CHUNK = 8 << 20

    def __init__(self, fh: io.BufferedReader, hasher: ThreadPoolExecutor) -> None:
        self._fh = fh
        self._hasher = hasher
        self._last: Future[Any] | None = None
        self._digest = hashlib.sha256()
        self._chunk = bytearray(self._CHUNK)
        self.position = 0

    def read_into(self, array: np.ndarray) -> Future[Any]:
        """Fill the C-contiguous `array` with the next bytes; a short file raises.

        Returns the hash job: `array` must not change until it is done.
        """
        view = array.data.cast("B")
        filled = 0
        while filled < len(view):
            got = self._fh.readinto(view[filled:])
            if not got:
                raise FeatureError(f"{self._fh.name}: ends early (truncated file)")
            filled += got
        self.position += filled
        self._last = self._hasher.submit(self._digest.update, view)
        return self._last

    def copy(self, end: int | None, sink: BinaryIO | None) -> None:
        """Advance to byte `end` (None: the end of the file), writing what passes to `sink`."""
        _finish(self._last)  # earlier blocks are hashed before these bytes
        view = memoryview(self._chunk)
        while end is None or self.position < end:
            want = len(view) if end is None else min(len(view), end - self.position)
            got = self._fh.readinto(view[:want])
            if not got:
                if end is None:
                    return
                raise FeatureError(f"{self._fh.name}: ends early (truncated file)")
            self._digest.update(view[:got])
            if sink is not None:
                sink.write(view[:got])
            self.position += got

    def hexdigest(self) -> str:
        _finish(self._last)
        return self._digest.hexdigest()
