"""What every ``zincfluor`` command shares: consoles, error handling, option choices."""

from __future__ import annotations

import functools
from enum import StrEnum

import typer
from rich.console import Console

__all__ = ["console", "out_console", "friendly_errors", "fail", "DeviceChoice"]

console = Console(stderr=True)
out_console = Console()


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 1."""
    console.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code=1)


def friendly_errors(command):
    """Show library errors about the user's input as ``error: ...`` and exit with status 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (FileNotFoundError, ValueError, KeyError) as error:
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            fail(str(message))

    return wrapper
