"""Long-tail methods, one module each, looked up by name in :data:`METHODS`."""

from zincfluor.methods import cross_entropy  # noqa: F401  (registers "ce")
from zincfluor.methods.base import METHODS, LongTailMethod, LossOutput, MethodContext

__all__ = ["METHODS", "LongTailMethod", "LossOutput", "MethodContext", "build_method"]


def build_method(name: str, context: MethodContext, **hparams) -> LongTailMethod:
    """Instantiate the method registered as ``name``; unknown hparams raise a TypeError."""
    return METHODS.get(name)(context, **hparams)
