"""The tolerances of a recording import, shared by the conversion, the plates and the cohort.

One frozen dataclass so that every step of an import reads the same numbers, and the cohort
manifest can record them (`options` in its source block).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImportOptions:
    """Tolerances of the conversion; the defaults are what docs/importing.md describes."""

    #: Longest interior marker gap bridged by interpolation; longer gaps refuse the trial.
    max_gap_s: float = 0.1
    #: Low-pass cut-off for markers before differentiation (clamped below 0.4 x rate).
    marker_cutoff_hz: float = 10.0
    #: Vertical force above which a plate is loaded.
    contact_threshold_n: float = 20.0
    #: Shorter loaded runs are noise, not foot contacts.
    min_contact_s: float = 0.1
    #: A heel farther than this from the centre of pressure after contact is not on the plate.
    heel_max_distance_m: float = 0.25
    #: Both heels closer to the COP than this to each other: the contact is ambiguous.
    heel_min_margin_m: float = 0.05
    #: The COP farther than this from the heel-toe line: another foot is on the plate.
    foot_outline_m: float = 0.1
    #: A plate peak above this many body weights is refused as overloaded or mis-scaled.
    overload_bw: float = 3.0
    #: Before heel strike and after toe off on a plate the foot is in swing: zero force.
    swing_pad_s: float = 0.1
    #: Pelvis displacement below which a trial is a standing (static) trial.
    static_max_displacement_m: float = 0.3
    #: Refuse walking recordings without force plates (their targets would be all unknown).
    require_grf: bool = True
