"""Where the arrays of an uncompressed `.npz` lie, so they can be read in blocks.

`np.savez` stores every member uncompressed: each is a complete `.npy` file at a known offset
inside the zip, which can be streamed (`gaitgrf.pipeline.fuse.stream`) without loading it.
"""

from __future__ import annotations

import struct
import zipfile
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
