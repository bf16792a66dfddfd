"""2D depictions of molecules as SVG, drawn by RDKit and cached by (SMILES, size).

The web page shows one beside every result; a screen's pages repeat the same molecules as the
user filters and pages, so each drawing is kept in a bounded LRU cache (:data:`CACHE_SIZE`).
"""

from __future__ import annotations

from functools import lru_cache

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

__all__ = ["CACHE_SIZE", "MAX_SIZE", "MIN_SIZE", "DepictionError", "depict_svg"]

CACHE_SIZE = 4096
"""Drawings kept (about 5 kB each)."""

MIN_SIZE, MAX_SIZE = 60, 600
"""Accepted width and height, pixels."""


class DepictionError(ValueError):
    """A SMILES RDKit cannot read, or a size out of range: the message says which."""


def depict_svg(smiles: str, width: int = 160, height: int = 120) -> str:
    """The SVG text of ``smiles``'s 2D structure (RDKit coordinates, transparent background).

    Raises :class:`DepictionError` naming the SMILES or the size when it cannot be drawn.
    """
    for name, value in (("width", width), ("height", height)):
        if not MIN_SIZE <= value <= MAX_SIZE:
            raise DepictionError(f"{name}: {value} is outside {MIN_SIZE}..{MAX_SIZE} pixels")
    return _cached_svg(smiles, width, height)


@lru_cache(maxsize=CACHE_SIZE)
def _cached_svg(smiles: str, width: int, height: int) -> str:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        raise DepictionError(f"smiles: RDKit cannot read {smiles[:80]!r}; send a valid SMILES")
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    options = drawer.drawOptions()
    options.clearBackground = False
    options.addStereoAnnotation = False
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()
