"""The streamed sample writer of `resample` against the in-memory path it replaced.

`LayoutSink` appends trials to raw files and writes the `.npz` from them in blocks; the
in-memory path concatenates the same `TrialBlock`s (`build_sample_set`) and saves the set
(`np.savez`). Both must give the same bytes: DVC hashes, fuse's streaming reader and
`SampleSet.load` then cannot tell them apart.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gaitgrf.core.npz import MemberSource, write_npz
from gaitgrf.core.samples import SampleSet
from gaitgrf.pipeline.resample import run as resample_run
from gaitgrf.pipeline.resample import sink as sink_module
from gaitgrf.pipeline.resample.segmentation import SampleBlock, TrialBlock, build_sample_set
from gaitgrf.pipeline.resample.sink import LayoutSink

CHANNELS = ("acc_pelvis_x", "acc_pelvis_y", "angle_knee_ipsi_flex")
POINTS = 11
PROVENANCE = {"stage": "resample", "trials": {"c1": 3}}


def _block(rng: np.random.Generator, n: int, dropped: int = 0) -> SampleBlock:
    return SampleBlock(
        rng.normal(size=(n, len(CHANNELS), POINTS)).astype(np.float32),
        rng.normal(size=(n, 3, POINTS)).astype(np.float32),
        rng.choice(np.array(["l", "r"]), size=n),
        rng.uniform(0, 10, size=n),
        rng.uniform(0.5, 1.0, size=n),
        dropped,
    )


def _trials(seed: int, sizes: list[int]) -> list[TrialBlock]:
    """Trials of varying size (0: a trial with no sample) and ids of varying length."""
    rng = np.random.default_rng(seed)
    return [
        TrialBlock(
            f"c{k % 2}",
            "s" * (1 + k % 3) + str(k // 2),
            f"walk_{k:0{1 + k % 4}d}",
            _block(rng, n, dropped=k % 2),
        )
        for k, n in enumerate(sizes)
    ]


def _both(tmp_path: Path, trials: list[TrialBlock]) -> tuple[Path, Path]:
    """The same trials written by the sink and by the in-memory path."""
    memory = build_sample_set("window", 100.0, CHANNELS, POINTS, trials, PROVENANCE)
    expected = memory.save(tmp_path / "memory" / "window.npz")
    (tmp_path / "streamed").mkdir()
    sink = LayoutSink(tmp_path / "streamed", "window", len(CHANNELS), POINTS)
    for t in trials:
        sink.add(t.cohort_id, t.subject_id, t.trial_id, t.block)
    streamed = sink.write(tmp_path / "streamed" / "window.npz", 100.0, CHANNELS, PROVENANCE)
    return expected, streamed


@pytest.mark.parametrize("sizes", [[], [0, 0], [5], [3, 0, 7, 1, 0, 12, 4], [40] * 9])
def test_streamed_file_is_byte_identical_to_the_in_memory_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: list[int]
) -> None:
    # Tiny blocks: several per member, a partial last one, ids across blocks of trials.
    monkeypatch.setattr(sink_module, "_BLOCK_BYTES", 3 * len(CHANNELS) * POINTS * 4 + 5)
    monkeypatch.setattr(sink_module, "_IDS_PER_BLOCK", 2)
    expected, streamed = _both(tmp_path, _trials(len(sizes), sizes))
    assert streamed.read_bytes() == expected.read_bytes()
    assert streamed.with_suffix(".json").read_bytes() == expected.with_suffix(".json").read_bytes()
    # only the set and its sidecar remain: the raw files are gone
    assert sorted(p.name for p in streamed.parent.iterdir()) == ["window.json", "window.npz"]
    loaded = SampleSet.load(streamed)
    assert len(loaded) == sum(sizes)


def test_a_block_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    sink = LayoutSink(tmp_path, "window", len(CHANNELS), POINTS + 1)
    with pytest.raises(ValueError, match="c0/walk_0"):
        sink.add("c0", "s0", "walk_0", _block(np.random.default_rng(0), 2))
    sink.close()


def test_write_npz_refuses_chunks_that_do_not_fill_the_shape(tmp_path: Path) -> None:
    member = MemberSource("x", np.dtype(np.float32), (2, 3), [np.zeros(5, np.float32)])
    with pytest.raises(ValueError, match="member x got 20 bytes"):
        write_npz(tmp_path / "x.npz", [member])


def test_results_come_in_order_with_a_bounded_number_waiting() -> None:
    """At most `ahead` trials are submitted and not yet taken, however slow the first one."""
    lock = threading.Lock()
    started: list[int] = []

    def work(k: int) -> int:
        with lock:
            started.append(k)
        if k == 0:
            time.sleep(0.3)  # the head of the line is slow: the others must not run away
        return k

    taken = []
    with ThreadPoolExecutor(4) as pool:
        for k in resample_run._in_order(pool, work, range(40), ahead=6):  # type: ignore[arg-type]
            with lock:
                assert len(started) <= k + 6
            taken.append(k)
    assert taken == list(range(40))
