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


def error_lines(exc: GaitGrfError, prefix: str, *, brief: bool = False) -> list[str]:
    """How every front end words a `GaitGrfError`: `<prefix>: <message>`, then `hint: <hint>`.

    The CLI, the DVC stages and the Prefect flows all show errors this way, so the wording lives
    here once. The message keeps its own line breaks (a ContractError lists its violations below
    its first line), so the first item may span several lines; the hint line is left out when the
    error has none. `brief` folds the message into one line instead (its first two lines and how
    many more there are), for a DVC log where each stage should say what went wrong in one line.
    """
    message = _one_line(exc) if brief else str(exc)
    lines = [f"{prefix}: {message}"]
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    return lines


def _one_line(exc: GaitGrfError) -> str:
    """The message's first line, its second one, and a count of the others; the class if empty."""
    lines = [line.strip() for line in str(exc).strip().splitlines()] or [type(exc).__name__]
    more = f" {lines[1]}" if len(lines) > 1 else ""
    more += f" (+{len(lines) - 2} more)" if len(lines) > 2 else ""
    return f"{lines[0]}{more}"
