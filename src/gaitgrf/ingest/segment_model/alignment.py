"""Static knee alignment: which joint centres may give the subject's frontal-plane HKA angle.

The contract's `knee_alignment_*_deg` is the clinical hip-knee-ankle angle, varus negative,
read off a static trial's mean hip, knee and ankle centres (`frames.knee_alignment_deg`). The
angle is only as good as the knee and ankle centres, so this module decides, per side, whether
the evidence behind them is good enough and says which it was:

1. `medial_markers`: the midpoint of lateral and medial markers (the joint's own width);
2. `lab_joint_centres`: the centres the lab's model exported (Plug-in Gait's KJC/AJC);
3. `pig_widths`: Plug-in Gait's rule from the lab's measured knee and ankle widths
   (PROCESSING:KneeWidth/AnkleWidth): lateral marker moved medially by half the width plus
   the marker radius (`landmarks.offset_centre`, Davis et al. 1991).

A centre placed with a default width (no measurement) is a guess: no alignment is given from
it. The weaker of the knee's and the ankle's evidence names the method. docs/importing.md
section 6 has the figures on the shared recordings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gaitgrf.ingest.segment_model.frames import Body, knee_alignment_deg
from gaitgrf.ingest.segment_model.landmarks import CENTRE_MEDIAL, CENTRE_MODELLED, CENTRE_WIDTH

#: Joint-centre method -> alignment method, best evidence first.
METHODS: Final = {
    CENTRE_MEDIAL: "medial_markers",
    CENTRE_MODELLED: "lab_joint_centres",
    CENTRE_WIDTH: "pig_widths",
}


@dataclass(frozen=True)
class KneeAlignment:
    """One side's static HKA angle and what it rests on, for the trial metadata and notes."""

    deg: float
    #: One of `METHODS`' values: the weaker of the knee's and the ankle's evidence.
    method: str
    #: The hip, knee and ankle centre methods in words.
    detail: str

    def as_extra(self) -> dict[str, object]:
        return {"deg": self.deg, "method": self.method, "centres": self.detail}


def static_alignment(body: Body, side: str) -> tuple[KneeAlignment | None, str]:
    """The side's alignment from a standing trial's segment model, or None and why not.

    Only the measured centres of `METHODS` count; the hip centre is always what the segment
    model has (a hip-centre marker, else Harrington et al. 2007).
    """
    used = {j: body.methods.get(f"{j}_{side}", "") for j in ("hip", "knee", "ankle")}
    detail = "; ".join(f"{j}: {how}" for j, how in used.items())
    unmeasured = [j for j in ("knee", "ankle") if used[j] not in METHODS]
    if unmeasured:
        why = ", ".join(f"{j} centre {used[j] or 'unknown'}" for j in unmeasured)
        return None, f"not measured ({why}): no medial markers, lab centres or joint widths"
    order = list(METHODS)
    weakest = max(order.index(used["knee"]), order.index(used["ankle"]))
    method = METHODS[order[weakest]]
    return KneeAlignment(round(knee_alignment_deg(body, side), 2), method, detail), method
