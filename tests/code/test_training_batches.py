"""Batches of the training loop: DataLoader's order, memory maps read per batch, same numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sample_factory import make_samples

from gaitgrf import models
from gaitgrf.core.samples import SampleSet
from gaitgrf.models.base import ModelSpec
from gaitgrf.training.batches import Arrays, BatchReader, shuffled
from gaitgrf.training.loop import dataset, fit, fit_config, predict, train_once
from gaitgrf.training.normalisation import Normaliser


@pytest.mark.parametrize(("n", "batch"), [(5, 8), (64, 32), (100, 32), (37, 64)])
def test_shuffle_order_is_dataloaders(n: int, batch: int) -> None:
    loader = DataLoader(
        TensorDataset(torch.arange(n)),
        batch_size=batch,
        shuffle=True,
        generator=torch.Generator().manual_seed(4),
    )
    ours = torch.Generator().manual_seed(4)
    for _ in range(3):  # the generator's state carries over epochs alike
        expected = torch.cat([x for (x,) in loader]).numpy()
        np.testing.assert_array_equal(shuffled(n, ours), expected)


def test_batches_read_the_rows_and_standardise() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3, 4)).astype(np.float32)
    y = rng.normal(size=(10, 3, 4)).astype(np.float32)
    rows = np.array([7, 2, 5])
    shift = np.array([1.0, 2.0, 3.0], np.float32)[None, :, None]
    scale = np.array([0.5, 2.0, 4.0], np.float32)[None, :, None]
    static = np.arange(6, dtype=np.float32).reshape(3, 2)
    reader = BatchReader(Arrays(x, static, y, rows=rows, shift=shift, scale=scale), 2)
    got = [
        (a.numpy().copy(), b.numpy().copy(), c.numpy().copy())
        for a, b, c in reader.batches(np.array([2, 0, 1]))
    ]
    assert [len(b[0]) for b in got] == [2, 1]
    xs = np.concatenate([b[0] for b in got])
    np.testing.assert_array_equal(xs, (x[[5, 7, 2]] - shift) * scale)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), static[[2, 0, 1]])
    np.testing.assert_array_equal(np.concatenate([b[2] for b in got]), y[[5, 7, 2]])


def test_arrays_refuse_what_does_not_fit() -> None:
    x, y = np.zeros((4, 2, 3), np.float32), np.zeros((4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="static"):
        Arrays(x, np.zeros((3, 1), np.float32), y)
    with pytest.raises(ValueError, match="outside"):
        Arrays(x, np.zeros((2, 1), np.float32), y, rows=np.array([0, 4]))
    with pytest.raises(ValueError, match="targets"):
        Arrays(x, np.zeros((4, 1), np.float32), y[:3])


def memory_mapped(samples: SampleSet, folder: Path) -> SampleSet:
    """`samples` with inputs and targets read from `.npy` memory maps."""
    from dataclasses import replace

    np.save(folder / "inputs.npy", samples.inputs)
    np.save(folder / "targets.npy", samples.targets)
    return replace(
        samples,
        inputs=np.load(folder / "inputs.npy", mmap_mode="r"),
        targets=np.load(folder / "targets.npy", mmap_mode="r"),
    )


def copied_then_fit(samples: SampleSet, tr: np.ndarray, va: np.ndarray, seed: int) -> list[float]:
    """What train_once did before it read batches by row: normalise copies, then fit."""
    normaliser = Normaliser.fit(samples, tr)
    x_tr, s_tr = normaliser.transform(samples.take(tr))
    x_va, s_va = normaliser.transform(samples.take(va))
    torch.manual_seed(seed)
    hp = {**models.get("cnn1d").defaults, "batch_size": 16}
    net = models.build("cnn1d", ModelSpec(x_tr.shape[1], x_tr.shape[2], s_tr.shape[1]), hp)
    cfg = fit_config(hp, epochs=2, patience=0, seed=seed, threads=None)
    result = fit(
        net,
        dataset(x_tr, s_tr, samples.targets[tr]),
        dataset(x_va, s_va, samples.targets[va]),
        cfg,
    )
    return [e.train_loss for e in result.history] + [e.val_loss or 0.0 for e in result.history]


def test_train_once_on_memory_maps_gives_the_same_numbers(tmp_path: Path) -> None:
    samples, _ = make_samples(subjects=6, per_subject=10)
    mapped = memory_mapped(samples, tmp_path)
    tr, va = np.arange(0, 60, 2)[::-1], np.arange(1, 60, 2)  # rows in any order
    hp = {**models.get("cnn1d").defaults, "batch_size": 16}
    runs = []
    for data in (samples, mapped):
        trained = train_once(data, "cnn1d", hp, tr, va, epochs=2, patience=0, seed=3, threads=None)
        losses = [e.train_loss for e in trained.result.history]
        losses += [e.val_loss or 0.0 for e in trained.result.history]
        runs.append((losses, predict(trained.network, *trained.normaliser.transform(samples))))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][0] == copied_then_fit(samples, tr, va, seed=3)
    # The mask form of an index selects the same samples.
    mask = np.zeros(60, bool)
    mask[tr] = True
    by_mask = train_once(
        samples, "cnn1d", hp, np.sort(tr), va, epochs=1, patience=0, seed=3, threads=None
    )
    again = train_once(samples, "cnn1d", hp, mask, va, epochs=1, patience=0, seed=3, threads=None)
    assert by_mask.result.history[0].train_loss == again.result.history[0].train_loss


def test_fit_gives_the_plain_dataloader_loops_numbers() -> None:
    """fit = DataLoader(TensorDataset, shuffle) + torch's default AdamW, number for number,
    validation passes (which draw from the global generator) included."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(56, 4, 21)).astype(np.float32)
    s = rng.normal(size=(56, 2)).astype(np.float32)
    y = rng.normal(size=(56, 3, 21)).astype(np.float32)
    spec, seed = ModelSpec(4, 21, 2), 5
    hp = {"batch_size": 16, "lr": 3e-3, "weight_decay": 1e-4, "dropout": 0.3}

    torch.manual_seed(0)
    net = models.build("cnn1d", spec, hp)  # BatchNorm and dropout: the global RNG is used too
    cfg = fit_config(hp, epochs=3, patience=0, seed=seed, threads=None)
    history = fit(net, dataset(x[:40], s[:40], y[:40]), dataset(x[40:], s[40:], y[40:]), cfg)
    ours = [(e.train_loss, e.val_loss) for e in history.history]

    torch.manual_seed(0)
    ref = models.build("cnn1d", spec, hp)
    torch.manual_seed(seed)
    tensors = [torch.as_tensor(a) for a in (x, s, y)]
    train = TensorDataset(*(t[:40] for t in tensors))
    val = TensorDataset(*(t[40:] for t in tensors))
    loader = DataLoader(
        train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    optimiser = torch.optim.AdamW(ref.parameters(), lr=3e-3, weight_decay=1e-4)
    weights = (1.0 / tensors[2][:40].transpose(0, 1).reshape(3, -1).var(dim=1)).view(1, 3, 1)
    theirs = []
    for _ in range(3):
        ref.train()
        total = 0.0
        for xb, sb, yb in loader:
            loss = ((ref(xb, sb) - yb) ** 2 * weights).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss) * len(xb)
        ref.eval()
        with torch.no_grad():
            val_total = sum(
                float(((ref(xb, sb) - yb) ** 2 * weights).mean()) * len(xb)
                for xb, sb, yb in DataLoader(val, batch_size=256)
            )
        theirs.append((total / 40, val_total / 16))
    assert ours == theirs
