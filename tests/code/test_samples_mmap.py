"""`SampleSet.load(mmap=True)` maps what it can and reads the same values; a training fold
standardised through the map equals the in-memory path (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitgrf.core.samples import ARRAYS, SampleSet
from tests.sample_factory import make_samples


def _assert_equal_sets(a: SampleSet, b: SampleSet) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.describe() == b.describe()


def test_uncompressed_members_come_back_as_read_only_maps(tmp_path: Path) -> None:
    samples, _ = make_samples(subjects=5, per_subject=4)
    path = samples.save(tmp_path / "stance.npz")
    mapped = SampleSet.load(path, mmap=True)
    for name in ARRAYS:
        array = getattr(mapped, name)
        if array.size:  # an empty array needs no map
            assert isinstance(array, np.memmap), name
            assert not array.flags.writeable, name
    _assert_equal_sets(mapped, SampleSet.load(path))
    # take copies the samples asked for, into ordinary memory
    part = mapped.take(np.array([3, 1, 7]))
    assert not isinstance(part.inputs, np.memmap)
    np.testing.assert_array_equal(part.inputs, samples.inputs[[3, 1, 7]])


def test_shared_files_are_mapped_and_a_compressed_file_is_read(tmp_path: Path) -> None:
    samples, _ = make_samples(subjects=3, per_subject=4)
    np.save(tmp_path / "inputs.npy", samples.inputs)
    np.save(tmp_path / "targets.npy", samples.targets)
    shared = {"inputs": "inputs.npy", "targets": "targets.npy"}
    path = samples.save(tmp_path / "base.npz", shared=shared)
    mapped = SampleSet.load(path, mmap=True)
    assert isinstance(mapped.inputs, np.memmap) and isinstance(mapped.targets, np.memmap)
    assert isinstance(mapped.subject_id, np.memmap)
    _assert_equal_sets(mapped, SampleSet.load(path))

    with np.load(path) as data:  # the same set, compressed: cannot be mapped, still loads
        np.savez_compressed(tmp_path / "zipped.npz", **{k: data[k] for k in data.files})
    (tmp_path / "zipped.json").write_bytes(path.with_suffix(".json").read_bytes())
    zipped = SampleSet.load(tmp_path / "zipped.npz", mmap=True)
    assert not isinstance(zipped.static, np.memmap)
    _assert_equal_sets(zipped, SampleSet.load(path))
