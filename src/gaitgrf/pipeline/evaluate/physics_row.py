"""The physics baseline as one more row of the comparison: Newton, no learning, same samples.

Every network is scored on the held-out samples of the fused set; the baseline reads the
Newton estimate (`gaitgrf.physics`) of exactly those samples from the resampled set, which
carries the physics channels whether or not `fuse.physics` hands them to the models. Fuse keeps
the resampled samples and their order, so one index serves both; that is checked, not assumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gaitgrf.core.samples import SampleSet
from gaitgrf.physics.stream import baseline_forces, sample_channel_names
from gaitgrf.pipeline.evaluate.metrics import PRIMARY, sample_metrics


def physics_baseline(resampled_path: Path, fused: SampleSet, index: np.ndarray) -> dict[str, Any]:
    """Metrics of the Newton estimate on `fused`'s samples `index`, or why there are none."""
    if not resampled_path.is_file():
        return {"available": False, "reason": f"{resampled_path} not found"}
    resampled = SampleSet.load(resampled_path)
    if not set(sample_channel_names()) <= set(resampled.channels):
        return {
            "available": False,
            "reason": "the trials lack what the Newton estimate needs (pelvis, thigh and shank "
            "accelerometers, hip and knee angles)",
        }
    same = (
        len(resampled) == len(fused)
        and np.array_equal(resampled.trial_id, fused.trial_id)
        and np.array_equal(resampled.side, fused.side)
        and np.allclose(resampled.start_s, fused.start_s)
    )
    if not same:
        return {"available": False, "reason": "resampled and fused samples differ (re-run fuse)"}
    predicted = baseline_forces(resampled.inputs[index], resampled.channels)
    metrics = sample_metrics(
        resampled.targets[index], predicted, stance=resampled.layout == "stance"
    )
    return {"available": True, "samples": int(index.size), **metrics}


def physics_line(baseline: dict[str, Any], fmt: Any) -> list[str]:
    """The ranking table's extra row (unranked: no parameters, no training)."""
    if not baseline.get("available"):
        return ["", f"Physics baseline: not available ({baseline.get('reason')})."]
    comps = " | ".join(
        f"{fmt(baseline[f'{n}_r'])} / {fmt(baseline[f'{n}_rrmse'], 1)}"
        for n in ("vertical", "anterior", "lateral")
    )
    return [
        f"| - | physics (Newton + Ren split, no learning) | - | {fmt(baseline[PRIMARY], 2)} | "
        f"{comps} | {fmt(baseline['vertical_rmse'])} | - | 0 | - |"
    ]
