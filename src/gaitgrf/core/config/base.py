"""The base of every params section: unknown keys rejected, values frozen."""

from __future__ import annotations

import re
from typing import Final

from pydantic import BaseModel, ConfigDict

#: A study's name, `<architecture>__<condition>` (`pipeline.tune.study.study_name`).
STUDY_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*__[a-z][a-z0-9_]*$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_pair(value: tuple[float, float], name: str, lo: float, hi: float) -> None:
    """Refuse a (low, high) range that is reversed or leaves the plausible [lo, hi]."""
    if not lo <= value[0] <= value[1] <= hi:
        raise ValueError(f"{name} {value} must be (low, high) with {lo} <= low <= high <= {hi}")
