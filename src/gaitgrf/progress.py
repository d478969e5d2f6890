"""The progress bar of long work, shared by every front end (the CLI, DVC stages, Prefect flows).

The library never prints: a long function takes a `progress(done, total)` callback and calls it
as its work advances. The front end passes a `ProgressBar`: a transient rich bar with counts,
elapsed time and an ETA, drawn only on a terminal (a log or CI gets the summary lines alone, not
a bar redrawn into it). rich is imported when a bar is made, not with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class ProgressBar:
    """A rich progress bar usable as the `progress(done, total)` callback; quiet if unused."""

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

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(self._description, total=total)
        self._bar.update(self._task, completed=done, total=total)
