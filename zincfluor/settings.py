"""Settings dataclasses that travel as plain dicts (checkpoints, config.json)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypeVar

__all__ = ["PlainSettings", "settings_from_dict"]

S = TypeVar("S")


def settings_from_dict(cls: type[S], data: dict[str, Any], kind: str) -> S:
    """``cls(**data)``, refusing keys that are not fields of ``cls`` (a dict written for other
    settings) with a message naming them and ``kind``."""
    unknown = sorted(set(data) - {field.name for field in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {kind} settings: {unknown}")
    return cls(**data)


class PlainSettings:
    """Mixin for a dataclass of JSON-typed fields: ``to_dict`` and a strict ``from_dict``.

    Subclasses name themselves in ``settings_kind`` for error messages.
    """

    settings_kind = "these"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return settings_from_dict(cls, data, cls.settings_kind)
