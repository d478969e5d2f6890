"""Which foot carries the body's force: contact from the wearable events, Ren's rule between.

In single support the standing foot carries all of the total force. In double support only the
sum is known; the trailing foot's share decays as `exp(-(2 u)^3)`, `u` the fraction of the double
support elapsed (Ren, Jones & Howard 2008, J Biomech 41:2750; the rule Karatsidis et al. 2017
used with 17 IMUs), and the leading foot takes the rest. The shape is smooth at both ends: 1 at
the leading heel strike, exp(-8) = 0.0003 at the trailing toe off. Offline the double support's
own duration is known, so it is used (Ren take the previous one, for real time); the same share
is applied to all three components (Ren fit a separate anterior-posterior shape: not used).

A lab trial is short (two or three steps across the plates), so its edges matter:
`contact_stances` keeps a stance cut by the recording's start (a toe off before any heel strike)
or end (a heel strike after the last toe off). Where the events still cannot say, the foot is
taken to do the opposite of the other one (someone must stand); with neither foot known, or
neither on the ground (a missed event), the force is shared equally.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def contact_stances(
    heel_strikes: np.ndarray,
    toe_offs: np.ndarray,
    span: tuple[float, float],
    duration_s: tuple[float, float],
) -> np.ndarray:
    """(k, 2) [heel strike, toe off] of one foot, with stances cut by the recording's edges.

    Complete stances outside `duration_s` (min, max) are dropped, as the step rule drops them;
    a stance open at the start runs from `span[0]`, one open at the end to `span[1]`, when the
    part inside the recording is no longer than the longest stance.
    """
    hs = np.sort(np.asarray(heel_strikes, dtype=float))
    to = np.sort(np.asarray(toe_offs, dtype=float))
    rows = []
    if to.size and (hs.size == 0 or to[0] < hs[0]) and to[0] - span[0] <= duration_s[1]:
        rows.append((span[0], to[0]))
    for h in hs:
        later = to[to > h]
        nxt = hs[hs > h]
        if later.size and (nxt.size == 0 or later[0] < nxt[0]):
            if duration_s[0] <= later[0] - h <= duration_s[1]:
                rows.append((h, later[0]))
        elif nxt.size == 0 and span[1] - h <= duration_s[1]:
            rows.append((h, span[1]))
    return np.array(rows, dtype=float).reshape(-1, 2)


def _contact(time: np.ndarray, stances: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per sample: known, on the ground, and the current stance's heel strike and toe off."""
    n = time.size
    if stances.shape[0] == 0:
        nan = np.full(n, np.nan)
        return np.zeros(n, bool), np.zeros(n, bool), nan, nan
    hs, to = stances[:, 0], stances[:, 1]
    k = np.searchsorted(hs, time, side="right") - 1
    kk = np.clip(k, 0, hs.size - 1)
    on = (k >= 0) & (time < to[kk])
    known = (time >= hs[0]) & (time <= to[-1])
    return known, on, np.where(on, hs[kk], np.nan), np.where(on, to[kk], np.nan)


def left_share(time: np.ndarray, stances: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n,) the left foot's share of the total force at `time`; the right foot has the rest.

    `stances[side]` is (k, 2) [heel strike, toe off], sorted and not overlapping per foot.
    """
    time = np.asarray(time, dtype=float)
    known_l, on_l, hs_l, to_l = _contact(time, np.asarray(stances["l"], dtype=float))
    known_r, on_r, hs_r, to_r = _contact(time, np.asarray(stances["r"], dtype=float))
    # A foot the events cannot place does the opposite of the other one.
    on_l = np.where(known_l, on_l, ~on_r & known_r)
    on_r = np.where(known_r, on_r, ~on_l & known_l)
    share = np.full(time.size, 0.5)
    share[on_l & ~on_r] = 1.0
    share[on_r & ~on_l] = 0.0
    both = on_l & on_r & np.isfinite(hs_l) & np.isfinite(hs_r)
    if both.any():
        left_trails = hs_l[both] < hs_r[both]
        start = np.maximum(hs_l[both], hs_r[both])
        end = np.where(left_trails, to_l[both], to_r[both])
        u = np.clip((time[both] - start) / np.maximum(end - start, 1e-6), 0.0, 1.0)
        trailing = np.exp(-((2.0 * u) ** 3))
        share[both] = np.where(left_trails, trailing, 1.0 - trailing)
    return share
