"""Small synthetic measurement tables in the Deep4Chem layout, written by the tests themselves.

The molecules are simple homologous series (alkanes, alcohols, amines, ...), not real dyes; each
series gets an emission range, so a model has something learnable in a 2-epoch run.
"""

from __future__ import annotations

import csv
from pathlib import Path

DEEP4CHEM_COLUMNS = [
    "Tag", "Chromophore", "Solvent", "Absorption max (nm)", "Emission max (nm)",
    "Lifetime (ns)", "Quantum yield", "log(e/mol-1 dm3 cm-1)", "abs FWHM (cm-1)",
    "emi FWHM (cm-1)", "abs FWHM (nm)", "emi FWHM (nm)", "Molecular weight (g mol-1)",
    "Reference",
]

# one homologous series per emission8 level, with an emission value inside that level
SERIES = [
    ("CC{}", 350.0),  # from ethane: a lone atom (methane) is outside a model's scope
    ("C{}O", 425.0),
    ("C{}N", 475.0),
    ("c1ccccc1C{}", 530.0),
    ("C{}Cl", 600.0),
    ("C{}F", 660.0),
    ("OC(=O)C{}", 740.0),
    ("N#CC{}", 800.0),
]


def series_molecules(per_level: int = 10) -> list[tuple[str, float, int]]:
    """``(smiles, emission_nm, level)`` for ``per_level`` members of each series."""
    rows = []
    for level, (pattern, emission) in enumerate(SERIES):
        for n in range(1, per_level + 1):
            rows.append((pattern.format("C" * (n - 1)) if "{}" in pattern else pattern,
                         emission + n, level))
    return rows


def write_deep4chem_csv(path: Path, per_level: int = 10, *, with_bad_rows: bool = True) -> Path:
    """Write a Deep4Chem-layout CSV; returns its path.

    Besides one row per molecule it adds a second solvent row for the first molecule and, when
    ``with_bad_rows``, one row with an unparsable SMILES and one with no emission value.
    """
    rows = []
    for tag, (smiles, emission, _) in enumerate(series_molecules(per_level), start=1):
        rows.append([tag, smiles, "O", emission - 50, emission] + ["NaN"] * 8 + ["test"])
    first_smiles, first_emission, _ = series_molecules(per_level)[0]
    rows.append([len(rows) + 1, first_smiles, "CO", 300, first_emission + 2] + ["NaN"] * 8
                + ["test"])
    if with_bad_rows:
        rows.append([len(rows) + 1, "C1CC", "O", 300, 420] + ["NaN"] * 8 + ["test"])
        rows.append([len(rows) + 1, "CCCCCCCCCCCCCCCO", "O", 300, "NaN"] + ["NaN"] * 8 + ["test"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(DEEP4CHEM_COLUMNS)
        writer.writerows(rows)
    return path


def write_scaffold_csv(path: Path) -> Path:
    """A Deep4Chem-layout CSV over 63 molecules on 19 scaffolds (for scaffold splits).

    Emission values cycle through the eight emission8 levels.
    """
    from scaffold_molecules import scaffold_molecules

    centres = [emission for _, emission in SERIES]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(DEEP4CHEM_COLUMNS)
        for tag, smiles in enumerate(scaffold_molecules(), start=1):
            emission = centres[tag % len(centres)]
            writer.writerow([tag, smiles, "O", emission - 50, emission] + ["NaN"] * 8 + ["test"])
    return path
