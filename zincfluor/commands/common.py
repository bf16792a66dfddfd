"""What every ``zincfluor`` command shares: consoles, error handling, option choices."""

from __future__ import annotations

import functools
import json
from enum import StrEnum

import typer
from rich.console import Console

__all__ = [
    "console", "out_console", "friendly_errors", "fail", "DeviceChoice", "parse_method_params",
]

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


def parse_method_params(values: list[str]) -> dict:
    """``--method-param key=value`` pairs; values are parsed as JSON when they can be."""
    hparams = {}
    for item in values:
        if "=" not in item:
            fail(f"--method-param expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            hparams[key.strip().replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            hparams[key.strip().replace("-", "_")] = raw
    return hparams
