"""A small (molecule, solvent, emission) CSV whose emission depends on the solvent: 63
molecules on 19 scaffolds, each measured in toluene, acetonitrile and methanol, red-shifted
from the non-polar to the polar solvents by a molecule-dependent amount."""

from __future__ import annotations

from pathlib import Path

from scaffold_molecules import scaffold_molecules
from solvent_fixtures import write_solvent_csv

SOLVENT_SHIFTS = {"toluene": 0.0, "acetonitrile": 40.0, "methanol": 60.0}


def solvent_rows() -> list[tuple[str, str, float, str]]:
    """(molecule, solvent name, emission nm, reference) rows."""
    rows = []
    for i, smiles in enumerate(scaffold_molecules()):
        base = 380.0 + 12.0 * (i % 20)
        for solvent, shift in SOLVENT_SHIFTS.items():
            rows.append((smiles, solvent, base + shift * (1 + (i % 3)) / 2, "test"))
    return rows


def write_solvent_rows(path: Path) -> Path:
    return write_solvent_csv(path, solvent_rows())
