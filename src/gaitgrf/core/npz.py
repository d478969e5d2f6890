"""Uncompressed `.npz` files read and written in blocks, never whole.

`np.savez` stores every member uncompressed: each is a complete `.npy` file at a known offset
inside the zip, which can be streamed (`gaitgrf.pipeline.fuse.stream`) or memory-mapped
(`SampleSet.load(mmap=True)`) without loading it: `npz_members` says where they lie.
`write_npz` writes such a file from arrays given in chunks, byte for byte what `np.savez` writes
for the whole arrays, so a stage that streams its samples (`resample`) keeps the format and the
bytes of one that held them in memory.
"""

from __future__ import annotations

import math
import struct
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class NpyMember:
    """Where one array of an uncompressed `.npz` lies in the file (byte offsets)."""

    start: int  # first byte of the member (a complete .npy file)
    end: int  # one past its last byte
    data: int  # first byte of the array data, after the .npy header
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


def npz_members(path: Path) -> dict[str, NpyMember] | None:
    """The arrays of the `.npz` at `path` and where they lie; None if they cannot be streamed.

    Compressed, encrypted, Fortran-ordered, object or inconsistent members give None (the
    caller then loads the file the ordinary way, which also reports any real damage).
    """
    members: dict[str, NpyMember] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as fh:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                return None
            fh.seek(info.header_offset)
            local = fh.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return None
            data, end = fh.tell(), start + info.file_size
            if fortran or dtype.hasobject or data + int(np.prod(shape)) * dtype.itemsize != end:
                return None
            members[info.filename.removesuffix(".npy")] = NpyMember(
                start, end, data, tuple(shape), dtype
            )
    return members


@dataclass(frozen=True)
class MemberSource:
    """One array to write: its name, dtype and shape, and its C-order bytes in chunks."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    #: Buffers (numpy arrays, bytes) whose bytes, one after the other, are the array's data.
    chunks: Iterable[Any]


def write_npz(path: Path, members: Sequence[MemberSource]) -> Path:
    """Write `path` as `np.savez(path, **arrays)` would, without ever holding an array whole.

    Same zip layout as numpy's (stored members, forced zip64, default timestamps), same
    `.npy` headers, so the bytes equal those of `np.savez` and the file loads, streams and
    memory-maps like any other. A member whose chunks do not add up to its shape raises.
    """
    with (
        path.open("wb") as fh,
        zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf,
    ):
        for member in members:
            dtype = np.dtype(member.dtype)
            shape = tuple(int(n) for n in member.shape)  # repr of np.int64 differs from int
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": shape,
            }
            expected, written = math.prod(shape) * dtype.itemsize, 0
            with zf.open(f"{member.name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_1_0(out, header)
                for chunk in member.chunks:
                    data = _as_bytes(chunk)
                    out.write(data)
                    written += len(data)
            if written != expected:
                raise ValueError(
                    f"{path}: member {member.name} got {written} bytes, its shape {shape} "
                    f"of {dtype} needs {expected}"
                )
    return path


def _as_bytes(chunk: Any) -> memoryview:
    """The bytes of a numpy array (C order) or of any byte buffer, without a copy if possible."""
    if isinstance(chunk, np.ndarray):
        chunk = np.ascontiguousarray(chunk).reshape(-1).view(np.uint8)
    return memoryview(chunk).cast("B")
