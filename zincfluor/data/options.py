"""What a command needs to read one measurement table, as one value that runs record."""

from __future__ import annotations

from dataclasses import dataclass

from zincfluor.data.labels import LabelScheme, categorical_scheme, resolve_scheme
from zincfluor.data.tables import MoleculeTable, read_measurements

__all__ = ["DataOptions"]


@dataclass
class DataOptions:
    """How to read a measurement table (Deep4Chem needs none of these)."""

    path: str
    smiles_column: str | None = None
    value_column: str | None = None
    label_column: str | None = None
    scheme: str = "emission8"
    level_names: str | None = None

    def read(self, scheme: LabelScheme | None = None) -> MoleculeTable:
        """Read the table; with ``label_column``, ``level_names`` names the given classes.

        Given classes are whole numbers 0..K-1 or names. With ``level_names`` ("a,b,c") they
        are exactly those K classes; without, whole numbers are read as levels of ``scheme``
        (emission8 by default, ZincFluor-style colour levels) and names are sorted.
        """
        if scheme is None and self.label_column is not None and self.level_names:
            scheme = categorical_scheme([n.strip() for n in self.level_names.split(",")])
        scheme = scheme or resolve_scheme(self.scheme, self.level_names)
        return read_measurements(
            self.path,
            smiles_column=self.smiles_column,
            value_column=self.value_column,
            label_column=self.label_column,
            scheme=scheme,
        )
