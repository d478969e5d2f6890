"""Where the commands write: the two consoles and the progress bar of long work."""

from __future__ import annotations

from rich.console import Console

from gaitgrf import progress

# Never wrap: messages name paths, and a wrapped path cannot be copied or grepped.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def warn_trusted(message: str) -> None:
    """A warning the user must see (stderr, never lost in a progress display)."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/yellow] {escape(message)}")


class ProgressBar(progress.ProgressBar):
    """The shared progress bar (gaitgrf.progress) on the CLI's console."""

    def __init__(self, description: str) -> None:
        super().__init__(description, console)
