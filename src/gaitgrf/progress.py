"""The progress bar of long work, shared by every front end (the CLI, DVC stages, Prefect flows).

The library never prints: a long function takes a `progress(done, total, what)` callback (`what`,
optional, says what is being done now: "converting S01/walk_01.c3d", "lstm__base: trial 4")
and calls it as its work advances. The front end passes a `ProgressBar`: a transient rich bar
with that text, counts, elapsed time and an ETA, drawn only on a terminal (a log or CI gets the
summary lines alone, not a bar redrawn into it). rich is imported when a bar is made, not with
this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class ProgressBar:
    """A rich progress bar usable as the `progress(done, total[, what])` callback; quiet if
    unused. `description` is the work as a whole ("importing lab-a"); a call's `what` is shown
    after it, until the next call."""

    def __init__(self, description: str, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            # Logs and CI get the summary line only, not a bar redrawn into the log.
            disable=not console.is_terminal,
        )
        self._description = description
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._bar.stop()

    def __call__(self, done: int, total: int, what: str | None = None) -> None:
        from rich.markup import escape

        # Escaped: a trial id or file name may hold brackets that rich would read as markup.
        text = escape(f"{self._description}: {what}" if what else self._description)
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(text, total=total)
        self._bar.update(self._task, completed=done, total=total, description=text)


def stderr_bar(description: str) -> ProgressBar:
    """The bar of a DVC stage or a Prefect flow: on stderr (their stdout carries the summary
    lines that DVC logs show), never wrapping (a wrapped path cannot be copied)."""
    from rich.console import Console

    return ProgressBar(description, Console(stderr=True, soft_wrap=True))
