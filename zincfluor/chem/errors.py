"""Why an input row could not become a molecule graph."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeaturizationError"]

_SHOWN_SMILES_LENGTH = 80


@dataclass(frozen=True)
class FeaturizationError:
    """One input that was left out of a featurized set.

    Attributes
    ----------
    index : the input's position, as the caller numbered its inputs
    smiles : the input as text (``str()`` of non-strings such as ``None``)
    reason : short human-readable reason ("unclosed ring", "empty SMILES", ...)
    """

    index: int
    smiles: str
    reason: str

    def __str__(self) -> str:
        shown = self.smiles
        if len(shown) > _SHOWN_SMILES_LENGTH:
            shown = shown[: _SHOWN_SMILES_LENGTH - 3] + "..."
        return f"row {self.index}: {shown!r} is not a valid SMILES ({self.reason})"
