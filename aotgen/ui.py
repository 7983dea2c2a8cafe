"""Console output and progress display (rich), shared by every command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def status(message: str, quiet: bool = False) -> Iterator[None]:
    """A spinner on stderr while a long step runs (silent with --json or when not a terminal)."""
    if quiet or not err_console.is_terminal:
        if not quiet:
            err_console.print(f"[dim]{message}[/]", highlight=False)
        yield
        return
    with err_console.status(message):
        yield
