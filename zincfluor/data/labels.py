"""Label schemes: how a measured value (an emission maximum) becomes a fluorescence level.

A :class:`LabelScheme` is either *binned* (``edges`` given: level = ``numpy.digitize(value,
edges)``) or *categorical* (``edges`` is ``None``: the data file gives the level directly). The
default, :data:`EMISSION8`, is the eight-colour scheme of the shared data README.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "LabelScheme",
    "EMISSION8",
    "REGISTERED_SCHEMES",
    "categorical_scheme",
    "resolve_scheme",
]


def _format_number(value: float) -> str:
    """``400.0`` -> ``"400"``, ``412.5`` -> ``"412.5"``."""
    return f"{value:g}"


@dataclass(frozen=True)
class LabelScheme:
    """Ordered class levels, with the value bins that define them when they are binned.

    Parameters
    ----------
    name : short identifier, e.g. ``"emission8"``
    names : one name per level, lowest level first
    edges : strictly increasing bin edges (``len(names) - 1`` of them), or ``None`` when the
        levels are given by the data (categorical)
    unit : unit of the binned value, e.g. ``"nm"``
    value_name : what the binned value is, e.g. ``"emission max"``
    """

    name: str
    names: tuple[str, ...]
    edges: tuple[float, ...] | None
    unit: str = "nm"
    value_name: str = "emission max"

    def __post_init__(self) -> None:
        names = tuple(str(level_name) for level_name in self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise ValueError(f"label scheme {self.name!r} has no level names")
        if any(not level_name.strip() for level_name in names):
            raise ValueError(f"label scheme {self.name!r} has an empty level name: {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"label scheme {self.name!r} repeats a level name: {names}")
        if self.edges is None:
            return
        edges = tuple(float(edge) for edge in self.edges)
        object.__setattr__(self, "edges", edges)
        if not all(math.isfinite(edge) for edge in edges):
            raise ValueError(f"label scheme {self.name!r} has a non-finite edge: {edges}")
        if any(low >= high for low, high in zip(edges, edges[1:], strict=False)):
            raise ValueError(
                f"label scheme {self.name!r}: edges must be strictly increasing, got {edges}"
            )
        if len(names) != len(edges) + 1:
            raise ValueError(
                f"label scheme {self.name!r}: {len(edges)} edges make {len(edges) + 1} levels, "
                f"but {len(names)} names were given"
            )

    @property
    def num_classes(self) -> int:
        """Number of levels."""
        return len(self.names)

    @property
    def is_categorical(self) -> bool:
        """True when the levels are given by the data rather than binned from a value."""
        return self.edges is None

    def assign(self, values: np.ndarray) -> np.ndarray:
        """Level of each value: ``numpy.digitize(values, edges)`` as int64.

        Raises
        ------
        ValueError
            For a categorical scheme, or when a value is NaN.
        """
        if self.edges is None:
            raise ValueError(
                f"label scheme {self.name!r} is categorical: its levels come from the data, "
                "not from a value"
            )
        values = np.asarray(values, dtype=float)
        if np.isnan(values).any():
            raise ValueError(f"cannot assign a level to NaN ({self.value_name} is missing)")
        return np.digitize(values, self.edges).astype(np.int64)

    def describe_levels(self) -> list[str]:
        """Value range of each level, e.g. ``"< 400 nm"``, ``"400 - 450 nm"``, ``">= 780 nm"``.

        A categorical scheme has no ranges; each level reads ``"given"``.
        """
        if self.edges is None:
            return ["given"] * self.num_classes
        unit = f" {self.unit}" if self.unit else ""
        edges = [_format_number(edge) for edge in self.edges]
        if not edges:
            return ["all values"]
        middle = [f"{low} - {high}{unit}" for low, high in zip(edges, edges[1:], strict=False)]
        return [f"< {edges[0]}{unit}", *middle, f">= {edges[-1]}{unit}"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (what model checkpoints store)."""
        return {
            "name": self.name,
            "names": list(self.names),
            "edges": None if self.edges is None else list(self.edges),
            "unit": self.unit,
            "value_name": self.value_name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelScheme:
        """Inverse of :meth:`to_dict`; ``unit`` and ``value_name`` may be left out."""
        missing = [key for key in ("name", "names") if key not in data]
        if missing:
            raise ValueError(f"label scheme description lacks {', '.join(missing)}: {data!r}")
        edges = data.get("edges")
        return cls(
            name=str(data["name"]),
            names=tuple(data["names"]),
            edges=None if edges is None else tuple(edges),
            unit=str(data.get("unit", "nm")),
            value_name=str(data.get("value_name", "emission max")),
        )


EMISSION8 = LabelScheme(
    name="emission8",
    names=(
        "ultraviolet",
        "violet",
        "blue",
        "green",
        "yellow-orange",
        "red",
        "far-red",
        "near-infrared",
    ),
    edges=(400.0, 450.0, 500.0, 565.0, 625.0, 700.0, 780.0),
)
"""Eight colour levels from the emission maximum in nm (shared data README)."""

REGISTERED_SCHEMES: dict[str, LabelScheme] = {EMISSION8.name: EMISSION8}
"""Schemes that :func:`resolve_scheme` knows by name."""


def categorical_scheme(names: tuple[str, ...] | list[str], name: str = "given") -> LabelScheme:
    """A scheme whose levels are given by the data, in the order of ``names``."""
    return LabelScheme(name=name, names=tuple(names), edges=None, unit="", value_name="level")


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",")]


def _parse_edges(spec: str) -> tuple[float, ...] | None:
    """Edges of an inline spec like ``"400,500,600"``, or ``None`` when ``spec`` is not one."""
    try:
        return tuple(float(item) for item in _split_list(spec))
    except ValueError:
        return None


def _scheme_from_file(path: Path) -> LabelScheme:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"label scheme file {path} is not valid JSON: {error}") from error
    if not isinstance(data, dict) or "edges" not in data or "names" not in data:
        raise ValueError(
            f'label scheme file {path} must hold {{"name": ..., "edges": [...], "names": [...]}}'
        )
    if data["edges"] is None:
        raise ValueError(f"label scheme file {path}: edges must be a list of numbers, not null")
    return LabelScheme.from_dict({"name": path.stem, **data})


def resolve_scheme(spec: str = "emission8", level_names: str | None = None) -> LabelScheme:
    """Turn a command-line scheme spec into a :class:`LabelScheme`.

    Parameters
    ----------
    spec : a registered name (``"emission8"``), a path to a JSON file
        ``{"name": ..., "edges": [...], "names": [...]}``, or inline comma-separated edges such
        as ``"400,500,600"``
    level_names : comma-separated level names for inline edges (``"a,b,c,d"``); by default the
        levels are called ``"level 0"`` ... ``"level K"``

    Raises
    ------
    ValueError
        For an unknown spec, edges that are not strictly increasing, or a name count that does
        not match the edges.
    """
    spec = spec.strip()
    if spec in REGISTERED_SCHEMES or Path(spec).suffix.lower() == ".json" or Path(spec).is_file():
        if level_names is not None:
            raise ValueError(
                "level names can only be given with inline edges, not with a named scheme "
                f"or a scheme file ({spec!r})"
            )
        if spec in REGISTERED_SCHEMES:
            return REGISTERED_SCHEMES[spec]
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ValueError(f"label scheme file {path} does not exist")
        return _scheme_from_file(path)
    edges = _parse_edges(spec)
    if edges is None:
        known = ", ".join(sorted(REGISTERED_SCHEMES))
        raise ValueError(
            f"unknown label scheme {spec!r}: give a scheme name ({known}), a JSON file, "
            "or comma-separated bin edges such as '400,500,600'"
        )
    if level_names is None:
        names = tuple(f"level {index}" for index in range(len(edges) + 1))
    else:
        names = tuple(_split_list(level_names))
    return LabelScheme(name="custom", names=names, edges=edges)
