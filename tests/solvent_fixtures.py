"""Write small measurement CSVs with a solvent column (Deep4Chem's layout by default)."""

import csv
from pathlib import Path

DEEP4CHEM_SOLVENT_HEADER = ["Tag", "Chromophore", "Solvent", "Emission max (nm)", "Reference"]


def write_solvent_csv(path: Path, rows, header=DEEP4CHEM_SOLVENT_HEADER) -> Path:
    """Write ``rows`` (tuples without the Tag) under ``header``; a ``Tag`` column, when the
    header starts with one, is numbered from 0."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for tag, row in enumerate(rows):
            writer.writerow([tag, *row] if header[0] == "Tag" else list(row))
    return path
