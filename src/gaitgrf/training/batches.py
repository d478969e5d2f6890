"""Mini-batches read by index from the training arrays into buffers allocated once per fit.

Why not `DataLoader(TensorDataset)`: with automatic batching it indexes the dataset once per
sample (three tensor views each) and stacks the views, Python work per sample that cost as much
as a small network's whole step. Here a batch is one `np.take` per array into a buffer that
torch allocated once per fit, so the batch is a torch tensor without a copy. The buffers are
reused batch after batch: safe because the loop finishes a batch's backward pass and optimiser
step before it reads the next one.

The arrays may be memory maps (a fused set opened with `mmap_mode="r"`): `rows` names the
samples of the set to use and only the rows of the batch are read, so a fold never copies the
whole training set. Inputs are standardised per batch with the normaliser's float32 shift and
scale, the same operations `Normaliser.transform` applies to the whole set (element by element,
so the numbers are identical); the static features, a few columns, are standardised up front.

`shuffled` draws from the generator exactly what `DataLoader(shuffle=True)` draws per epoch, so
the batches, and everything trained from them, are those the loop gave when it used one
(tests/code/test_training.py pins this against torch's DataLoader).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Arrays:
    """What a fit trains or validates on: `len(static)` samples.

    `inputs` (N, C, T) and `targets` (N, 3, T) may be memory maps of a whole set; `rows` are
    the positions of the samples in them (None: all N, in order). `static` (R, S) float32 holds
    one standardised row per sample, in the order of `rows`. With `shift`/`scale` (float32,
    broadcastable to (1, C, 1)) each batch of inputs becomes (x - shift) * scale.
    """

    inputs: np.ndarray
    static: np.ndarray
    targets: np.ndarray
    rows: np.ndarray | None = None
    shift: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        if self.targets.shape[0] != n or self.targets.shape[2:] != self.inputs.shape[2:]:
            raise ValueError(
                f"targets {self.targets.shape} do not match inputs {self.inputs.shape}"
            )
        count = n if self.rows is None else len(self.rows)
        if self.static.ndim != 2 or self.static.shape[0] != count:
            raise ValueError(f"static {self.static.shape} does not match {count} samples")
        if (
            self.rows is not None
            and len(self.rows)
            and (self.rows.min() < 0 or self.rows.max() >= n)
        ):
            raise ValueError(f"rows hold positions outside 0..{n - 1}")
        if (self.shift is None) != (self.scale is None):
            raise ValueError("shift and scale go together")

    def __len__(self) -> int:
        return int(self.static.shape[0])

    def all_targets(self) -> torch.Tensor:
        """The targets of every sample (a copy: the component weights of the loss need them)."""
        y = self.targets if self.rows is None else self.targets[self.rows]
        return torch.from_numpy(np.array(y, dtype=np.float32))


def arrays(inputs: np.ndarray, static: np.ndarray, targets: np.ndarray) -> Arrays:
    """Arrays of already standardised inputs: no copy of float32 inputs and targets."""
    return Arrays(
        inputs=np.asarray(inputs),
        static=np.ascontiguousarray(static, dtype=np.float32),
        targets=np.asarray(targets),
    )


class BatchReader:
    """Batches of `data` at most `size` samples long, in any order of its samples."""

    def __init__(self, data: Arrays, size: int) -> None:
        self.data = data
        self.size = max(1, min(size, len(data)))
        b = self.size
        # Allocated by torch, filled through numpy views: the batches keep the (64-byte)
        # alignment of DataLoader's torch-allocated batches, which BLAS kernels may depend on.
        self._xt = torch.empty((b, *data.inputs.shape[1:]), dtype=torch.float32)
        self._st = torch.empty((b, data.static.shape[1]), dtype=torch.float32)
        self._yt = torch.empty((b, *data.targets.shape[1:]), dtype=torch.float32)
        self._x, self._s, self._y = self._xt.numpy(), self._st.numpy(), self._yt.numpy()

    def batches(self, order: np.ndarray | None = None) -> Iterator[Batch]:
        """(inputs, static, targets) tensors per batch; `order`: sample positions (None: in
        order). The tensors share the reader's buffers: use a batch before asking for the next."""
        d = self.data
        if order is None:
            # A DataLoader without a generator draws its worker base seed from torch's global
            # generator on every pass; so does this, which keeps dropout's random stream (and
            # with it every number trained after a validation pass) where it was.
            torch.empty((), dtype=torch.int64).random_()
            order = np.arange(len(d))
        for start in range(0, len(order), self.size):
            pos = order[start : start + self.size]
            k = len(pos)
            src = pos if d.rows is None else d.rows[pos]
            x, s, y = self._x[:k], self._s[:k], self._y[:k]
            _gather(d.inputs, src, x)
            _gather(d.static, pos, s)
            _gather(d.targets, src, y)
            if d.shift is not None and d.scale is not None:
                # numpy, one thread: torch's kernels split a batch over the threads, and on a
                # busy machine one late thread made this 100x slower (26 ms against 0.1 ms).
                np.subtract(x, d.shift, out=x)
                np.multiply(x, d.scale, out=x)
            yield self._xt[:k], self._st[:k], self._yt[:k]


def _gather(source: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """out[:] = source[rows] without a temporary when the dtypes agree (rows are checked by
    Arrays, so np.take may skip its own bounds buffering)."""
    if source.dtype == out.dtype:
        np.take(source, rows, axis=0, out=out, mode="clip")
    else:
        out[...] = source[rows]


def shuffled(n: int, generator: torch.Generator) -> np.ndarray:
    """This epoch's order of `n` samples, drawn as `DataLoader(shuffle=True)` draws it: the
    loader's worker base seed, then `RandomSampler`'s permutation, then the permutation it starts
    for the remainder and leaves unused."""
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n, generator=generator)
    torch.randperm(n, generator=generator)
    out: np.ndarray = order.numpy()
    return out
