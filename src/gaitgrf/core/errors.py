"""Errors that tell a user exactly what is wrong with their data and where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One broken rule, located as precisely as the data allows."""

    file: str
    rule: str
    detail: str
    subject: str | None = None
    channel: str | None = None

    def __str__(self) -> str:
        where = [f"file={self.file}"]
        if self.subject is not None:
            where.append(f"subject={self.subject}")
        if self.channel is not None:
            where.append(f"channel={self.channel}")
        return f"[{self.rule}] {' '.join(where)}: {self.detail}"


class GaitGrfError(Exception):
    """Base class for errors the CLI reports as one clear line instead of a traceback."""

    hint: str | None = None


class ContractError(GaitGrfError):
    """Data that breaks the data contract (docs/data-contract.md).

    Carries every violation found, not only the first, so one run tells the user all there is to
    fix.
    """

    def __init__(self, violations: list[Violation], *, context: str = "data contract") -> None:
        if not violations:
            raise ValueError("ContractError needs at least one violation")
        self.violations = list(violations)
        lines = [f"{context}: {len(self.violations)} violation(s)"]
        lines += [f"  - {v}" for v in self.violations[:50]]
        if len(self.violations) > 50:
            lines.append(f"  ... and {len(self.violations) - 50} more")
        super().__init__("\n".join(lines))

    @property
    def rules(self) -> set[str]:
        return {v.rule for v in self.violations}


class CohortExistsError(GaitGrfError):
    """Refusal to write over a stored cohort: a cohort is immutable once written."""

    hint = "choose another cohort id; stored cohorts are never overwritten"
