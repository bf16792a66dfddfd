"""What every ``zincfluor`` command shares: consoles, error handling, option choices.

A mistake in what the user typed or pointed at ends a command with one line on stderr,
``error: <what> <the fix>``, and exit status :data:`USAGE_ERROR` (2, as click's own usage
errors), never a traceback. :func:`friendly_errors` decides which exceptions are such mistakes
(see :func:`expected_errors`); any other exception is a bug and keeps its traceback. Set
``ZINCFLUOR_DEBUG=1`` to see the traceback of an expected error as well.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

__all__ = [
    "console", "out_console", "friendly_errors", "fail", "DeviceChoice", "parse_method_params",
    "check_device", "check_output_folder", "removed_on_failure", "error_message",
    "expected_errors", "USAGE_ERROR", "DEBUG_ENV", "hide_flag_types", "DEVICE_HELP",
    "PROGRESS_HELP",
]

console = Console(stderr=True)
out_console = Console()

USAGE_ERROR = 2
"""Exit status of a command stopped by a mistake in its input (click's usage errors too)."""

DEBUG_ENV = "ZINCFLUOR_DEBUG"

DEVICE_HELP = (
    "auto: CUDA when PyTorch sees a GPU, else the CPU; cuda stops at once without a GPU."
)
PROGRESS_HELP = "Show progress bars (plain lines when not a terminal)."


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def hide_flag_types() -> None:
    """Keep ``<bool>`` out of the rich ``--help`` beside flags, which take no value.

    typer (0.29) shows every option's type in its rich help, a flag's too, so ``--no-progress
    <bool>`` reads as if it wanted a value; its plain help leaves flags bare. This makes the rich
    help do the same. Idempotent; does nothing on a typer without the method.
    """
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "hides_flag_types", False):
        return

    def display_type_rich(self, ctx):
        if self.is_flag and not self.count:
            return None
        return original(self, ctx)

    display_type_rich.hides_flag_types = True
    TyperOption.display_type_rich = display_type_rich


def fail(message: str) -> None:
    """Print ``error: message`` on stderr as one line and exit with status 2."""
    console.print(
        f"[bold red]error:[/bold red] {escape(str(message))}", soft_wrap=True, highlight=False
    )
    raise typer.Exit(code=USAGE_ERROR)


def expected_errors() -> tuple[type[BaseException], ...]:
    """The exception types that report a mistake in the user's input, not a bug.

    * ``ValueError`` (bad values, unreadable files, unknown formats; the library's own
      ``CheckpointError`` and JSON decode errors are ValueErrors too);
    * ``OSError`` about a path: missing files, a folder where a file is expected (and back),
      files that exist already, permissions;
    * unknown registry names (``UnknownNameError``; a bare ``KeyError`` is a bug);
    * a ``--device`` the machine cannot give (``DeviceUnavailableError``).

    ``TypeError``, ``AttributeError``, ``IndexError``, bare ``KeyError`` and other
    ``RuntimeError`` stay tracebacks: they are bugs to report.
    """
    from zincfluor.registry import UnknownNameError
    from zincfluor.train.seeding import DeviceUnavailableError

    return (
        ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError,
        PermissionError, UnknownNameError, DeviceUnavailableError,
    )



def error_message(error: BaseException) -> str:
    """One line for an expected error: the library's own sentence, or one naming the path."""
    if isinstance(error, OSError) and error.filename is not None:
        name = error.filename
        if isinstance(error, IsADirectoryError):
            return f"{name} is a folder; give the path of a file"
        if isinstance(error, NotADirectoryError):
            return f"{name}: part of this path is a file, not a folder; give a folder's path"
        if isinstance(error, FileExistsError):
            return f"{name} exists already and is not a folder; choose another path"
        if isinstance(error, PermissionError):
            return f"{name}: permission denied; choose a path you may read and write"
        if isinstance(error, FileNotFoundError):
            return f"{name} does not exist; check the path"
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    text = " ".join(str(error).split())
    return text or type(error).__name__


def friendly_errors(command):
    """Turn the expected errors of ``command`` (see :func:`expected_errors`) into
    ``error: ...`` and exit status 2; unexpected ones keep their traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except expected_errors() as error:
            if os.environ.get(DEBUG_ENV):
                raise
            fail(error_message(error))

    return wrapper


def check_device(device: str) -> None:
    """Stop with a one-line error when ``--device`` cannot be used on this machine.

    Call it before reading any data, so that ``--device cuda`` without a GPU costs nothing.
    """
    from zincfluor.train.seeding import DeviceUnavailableError, resolve_device

    try:
        resolve_device(str(device))
    except DeviceUnavailableError as error:
        fail(str(error))


def check_output_folder(path: str | Path, option: str) -> None:
    """Stop with a one-line error when the output folder ``path`` is a file, or lies under one."""
    path = Path(path)
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                where = "is a file" if place == path else f"lies under the file {place}"
                fail(f"{option} {path} {where}; give a folder to write into")
            return


@contextlib.contextmanager
def removed_on_failure(path: str | Path | None):
    """Remove the folder ``path`` again if the block fails and the folder did not exist before.

    A run that stops with an error leaves nothing partial behind; a folder the user made (or an
    earlier run filled) is never removed.
    """
    folder = None if path is None else Path(path)
    existed = folder is None or folder.exists()
    try:
        yield
    except BaseException as error:
        stopped_cleanly = isinstance(error, typer.Exit) and error.exit_code == 0
        if not existed and not stopped_cleanly and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        raise


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


class GroupRule(StrEnum):
    """How reports form head/medium/tail groups (see zincfluor.train.metrics)."""

    thresholds = "thresholds"
    thirds = "thirds"


GROUPS_HELP = ("Head/medium/tail groups of the reports: thirds of the levels by training count, "
               "or thresholds (>100, 20-100, <20 training examples).")
