"""Where the commands write: the two consoles and the progress bar of long generations."""

from __future__ import annotations

from typing import Any

from rich.console import Console

# Never wrap: messages name paths, and a wrapped path cannot be copied or grepped.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def warn_trusted(message: str) -> None:
    """A warning the user must see (stderr, never lost in a progress display)."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}")


class ProgressBar:
    """A rich progress bar usable as the `progress(done, total)` callback; quiet if unused."""

    def __init__(self, description: str) -> None:
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
