"""``zincfluor methods [NAME]``: the registered long-tail methods, and one method in full.

Also the check of ``--method-param`` values against a method's hyperparameters
(:func:`check_method_params`), which ``train`` and ``vision train`` run before reading data.
A method's hyperparameters are the keyword arguments of its ``__init__`` after the context
(see :class:`zincfluor.methods.base.LongTailMethod`); their types come from the annotations and
their meanings from a numpydoc ``Parameters`` section of the class docstring, where it has one.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from zincfluor.commands.common import fail, out_console

__all__ = [
    "Hyperparameter", "method_hyperparameters", "check_method_params", "method_reading",
    "methods", "register",
]

_NO_DEFAULT = "(required)"


@dataclass(frozen=True)
class Hyperparameter:
    """One keyword argument of a method: its name, default, accepted types and meaning."""

    name: str
    default: Any
    types: tuple[type, ...]  # empty: any value (no usable annotation)
    meaning: str = ""

    @property
    def type_name(self) -> str:
        return " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in self.types) or "any"

    def accepts(self, value: Any) -> bool:
        """True when ``value`` (as parsed from ``key=value``) fits the annotation."""
        if not self.types:
            return True
        for kind in self.types:
            if kind is type(None) and value is None:
                return True
            if kind is bool and isinstance(value, bool):
                return True
            if kind is int and isinstance(value, int) and not isinstance(value, bool):
                return True
            if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                return True
            if kind is str and isinstance(value, str):
                return True
            if kind not in (type(None), bool, int, float, str) and isinstance(value, kind):
                return True
        return False


_TYPE_WORDS = {
    float: "number", int: "integer", bool: "true/false", str: "text", type(None): "null",
}


def _method_class(name: str):
    from zincfluor.methods import METHODS

    return METHODS.get(name)  # an unknown name: UnknownNameError listing the registered ones


def method_hyperparameters(name: str) -> list[Hyperparameter]:
    """The hyperparameters of the method registered as ``name``, in signature order."""
    cls = _method_class(name)
    signature = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be evaluated: no type check for it
        hints = {}
    meanings = _parameter_meanings(inspect.getdoc(cls) or "")
    params = list(signature.parameters.values())[2:]  # after self and the context
    return [
        Hyperparameter(
            name=p.name,
            default=_NO_DEFAULT if p.default is inspect.Parameter.empty else p.default,
            types=_annotation_types(hints.get(p.name)),
            meaning=meanings.get(p.name, ""),
        )
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def _annotation_types(annotation: Any) -> tuple[type, ...]:
    if annotation is None:
        return ()
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    if not all(isinstance(member, type) for member in members):
        return ()  # Literal[...], list[...], ...: not checked here
    return tuple(members)


def _parameter_meanings(doc: str) -> dict[str, str]:
    """``name : meaning`` entries of a numpydoc ``Parameters`` section (``a, b : ...`` too)."""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n\S|\Z)", doc, flags=re.S | re.M)
    if not match:
        return {}
    meanings: dict[str, str] = {}
    names: list[str] = []
    for line in match.group(1).splitlines():
        entry = re.match(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for n in names:
                meanings[n] = entry.group(2).strip()
        elif line.strip() and names:
            for n in names:
                meanings[n] = f"{meanings[n]} {line.strip()}".strip()
    return meanings


def check_method_params(method: str, params: dict[str, Any]) -> None:
    """Raise ``ValueError`` when ``params`` are not hyperparameters of ``method`` (by name and
    type), naming the offending ``--method-param`` and the valid names; an unknown method
    raises the registry's ``UnknownNameError``. Values are checked by the method itself when
    it is built (ranges such as a positive temperature)."""
    known = {h.name: h for h in method_hyperparameters(method)}
    for key, value in params.items():
        if key not in known:
            valid = (f"its hyperparameters are {', '.join(known)}" if known
                     else "it takes no hyperparameters")
            raise ValueError(
                f"--method-param {key}: method {method!r} has no hyperparameter {key!r}; "
                f"{valid} (see `zincfluor methods {method}`)"
            )
        if not known[key].accepts(value):
            raise ValueError(
                f"--method-param {key}={_show(value)}: {method}'s {key} takes "
                f"{_article(known[key].type_name)} {known[key].type_name}; see "
                f"`zincfluor methods {method}`"
            )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _show(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def method_reading(name: str) -> str:
    """What the method implements and from which paper: its module's docstring."""
    cls = _method_class(name)
    module = inspect.getmodule(cls)
    return inspect.cleandoc(module.__doc__ or "") if module is not None else ""


def _describe(name: str) -> None:
    cls = _method_class(name)
    summary = cls.summary or (inspect.getdoc(cls) or "").split("\n\n")[0]
    out_console.print(f"[bold]{escape(name)}[/bold]: {escape(summary)}", highlight=False,
                      soft_wrap=True)
    loss = (inspect.getdoc(cls) or "").split("\n\n")[0]
    if loss and loss != summary:
        out_console.print(escape(loss), highlight=False, soft_wrap=True)
    hyperparameters = method_hyperparameters(name)
    if hyperparameters:
        documented = any(h.meaning for h in hyperparameters)
        table = Table(title=f"hyperparameters (--method-param NAME=VALUE, VALUE as JSON; {name})")
        for column in ("name", "default", "type", *(["meaning"] if documented else [])):
            table.add_column(column, justify="right" if column == "default" else "left")
        for h in hyperparameters:
            default = h.default if isinstance(h.default, str) else _show(h.default)
            cells = (h.name, default, h.type_name, *([h.meaning] if documented else []))
            table.add_row(*(escape(str(v)) for v in cells))
        out_console.print(table)
    else:
        out_console.print("hyperparameters: none")
    reading = method_reading(name)
    if reading:
        out_console.print(f"\n[bold]reading[/bold] ({cls.__module__}):", highlight=False)
        out_console.print(reading, markup=False, highlight=False, soft_wrap=True)


def methods(
    name: str = typer.Argument(
        None, help="A method's name: print its summary, hyperparameters and reading."
    ),
) -> None:
    """List the registered long-tail methods, or describe one (NAME)."""
    from zincfluor.methods import METHODS

    if name is not None:
        if name not in METHODS:
            fail(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
        _describe(name)
        return
    table = Table(title="methods (`zincfluor methods NAME` for one in full)")
    table.add_column("name")
    table.add_column("what it is")
    for method in sorted(METHODS):
        table.add_row(method, escape(METHODS[method].summary))
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``methods`` to the ``zincfluor`` command."""
    app.command("methods")(methods)
