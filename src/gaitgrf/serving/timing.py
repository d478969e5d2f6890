"""How late or early a model's vertical force runs against the plates, within the stance.

A model can have the right shape and still lose most of its correlation by placing it a few
per cent of stance off: on the shared recordings the synthetic-trained models put the
vertical force's second peak and unloading 2-3 % of stance late, on the plates' own steps too,
so event timing is not the cause (docs/inference.md, "Diagnosis"). `vertical_timing` finds the
shift of the predicted curve that maximises the mean per-step correlation with the measured
one and reports it beside the correlation before and after. The shift is chosen on the
recording itself: it says where the error lies, it is not a correction to apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

#: Largest shift searched, in points of the stance curve (of 101: per cent of stance).
MAX_SHIFT_POINTS: Final = 10


@dataclass(frozen=True)
class TimingShift:
    """The best shift of the predicted vertical force on one set of steps.

    `late_points` > 0: the prediction runs that many points late (predicted[i + k] matches
    measured[i]); < 0: early. `r` is the mean per-step r unshifted, `r_shifted` at the shift
    (over the overlapping points).
    """

    steps: str
    n_steps: int
    late_points: int
    late_percent: float
    r: float
    r_shifted: float


def _mean_step_r(measured: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over steps of Pearson's r between two (n, P) arrays, row by row."""
    m = measured - measured.mean(axis=1, keepdims=True)
    p = predicted - predicted.mean(axis=1, keepdims=True)
    denom = np.sqrt((m * m).sum(axis=1) * (p * p).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (m * p).sum(axis=1) / denom
    r = r[np.isfinite(r)]
    return float(r.mean()) if r.size else float("nan")


def shifted_pair(measured: np.ndarray, predicted: np.ndarray, late: int) -> tuple[np.ndarray, ...]:
    """The overlapping parts of (n, P) curves when the prediction is `late` points late."""
    points = measured.shape[1]
    if late >= 0:
        return measured[:, : points - late], predicted[:, late:]
    return measured[:, -late:], predicted[:, : points + late]


def vertical_timing(
    measured: np.ndarray, predicted: np.ndarray, steps: str, max_shift: int = MAX_SHIFT_POINTS
) -> TimingShift | None:
    """The best shift of the vertical component of (n, 3, P) forces; None without a step.

    Steps whose measurement is not finite everywhere (not fully on a plate) are left out. Ties
    go to the smallest |shift|, so a prediction already in time reports 0.
    """
    ok = np.isfinite(measured).all(axis=(1, 2))
    m, p = measured[ok, 0, :], predicted[ok, 0, :]
    points = m.shape[1] if m.ndim == 2 else 0
    if not len(m) or points < 3 * max_shift:
        return None
    r0 = _mean_step_r(m, p)
    best, best_r = 0, r0
    for late in sorted(range(-max_shift, max_shift + 1), key=abs):
        r = _mean_step_r(*shifted_pair(m, p, late))
        if np.isfinite(r) and r > best_r + 1e-12:
            best, best_r = late, r
    return TimingShift(steps, len(m), best, 100.0 * best / (points - 1), r0, float(best_r))


def timing_line(shift: TimingShift) -> str:
    """`vertical timing on plates steps (2): 3 % of stance late (r 0.91 -> 0.98 shifted)`."""
    if shift.late_points == 0:
        where = "in time"
    else:
        side = "late" if shift.late_points > 0 else "early"
        where = f"{abs(shift.late_percent):.0f} % of stance {side}"
    return (
        f"  vertical timing on {shift.steps} steps ({shift.n_steps}): {where} "
        f"(r {shift.r:.2f} -> {shift.r_shifted:.2f} shifted; a diagnosis, not a correction)"
    )
