"""Name -> class registries, so command-line choices are data rather than if-chains."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["ClassRegistry", "UnknownNameError"]


class UnknownNameError(KeyError):
    """A name that is not registered; the message lists the registered ones."""


class ClassRegistry(dict[str, type[T]], Generic[T]):
    """A dict from names to classes, filled by the ``@registry.register("name")`` decorator.

    >>> METHODS = ClassRegistry("method")
    >>> @METHODS.register("ce")
    ... class CrossEntropy: ...
    >>> METHODS.get("ce").__name__
    'CrossEntropy'
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorator(cls: type[T]) -> type[T]:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self[name] = cls
            cls.registry_name = name  # type: ignore[attr-defined]
            return cls

        return decorator

    def get(self, name: str) -> type[T]:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            choices = ", ".join(sorted(self)) or "none registered"
            message = f"unknown {self.kind} {name!r}; choose one of: {choices}"
            raise UnknownNameError(message) from None
