"""Column layout of atom and bond feature matrices: which block starts where, and its labels.

Atom features are, in order: element, degree, formal charge, hybridisation (one-hot blocks),
aromatic, in ring (0/1 flags), total hydrogens, chirality tag (one-hot). Bond features are:
bond type (one-hot), conjugated, in ring (flags), stereo (one-hot). Every one-hot block ends
with an "other" slot, so exactly one column of each block is set for any atom or bond.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zincfluor.chem.config import FeaturizerConfig

__all__ = [
    "HYBRIDISATIONS",
    "CHIRAL_TAGS",
    "BOND_TYPES",
    "BOND_STEREOS",
    "FeatureBlock",
    "FeatureLayout",
]

# RDKit enum member names, in column order; anything else maps to the block's "other" slot.
HYBRIDISATIONS = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
CHIRAL_TAGS = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
BOND_STEREOS = (
    "STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS",
)

_CHIRAL_LABELS = ("unspecified", "CW", "CCW")
_BOND_TYPE_LABELS = ("single", "double", "triple", "aromatic")
_STEREO_LABELS = ("none", "any", "Z", "E", "cis", "trans")
OTHER = "other"


@dataclass(frozen=True)
class FeatureBlock:
    """A run of columns describing one property.

    Attributes
    ----------
    name : property name ("element", "aromatic", ...)
    labels : one label per column; a flag block has one column
    offset : index of the block's first column
    one_hot : True for one-hot blocks (exactly one column set), False for a 0/1 flag
    """

    name: str
    labels: tuple[str, ...]
    offset: int
    one_hot: bool

    @property
    def size(self) -> int:
        return len(self.labels)

    @property
    def columns(self) -> slice:
        return slice(self.offset, self.offset + self.size)


def _stack(specs: Sequence[tuple[str, tuple[str, ...], bool]]) -> tuple[FeatureBlock, ...]:
    blocks, offset = [], 0
    for name, labels, one_hot in specs:
        blocks.append(FeatureBlock(name, labels, offset, one_hot))
        offset += len(labels)
    return tuple(blocks)


@dataclass(frozen=True)
class FeatureLayout:
    """Atom and bond feature blocks of the "zincfluor" backend for one configuration."""

    atom_blocks: tuple[FeatureBlock, ...]
    bond_blocks: tuple[FeatureBlock, ...]

    @classmethod
    def from_config(cls, config: FeaturizerConfig) -> FeatureLayout:
        low_charge, high_charge = config.formal_charges
        atom_specs = [
            ("element", (*config.elements, OTHER), True),
            ("degree", (*_counts(config.max_degree), f">{config.max_degree}"), True),
            ("formal_charge", (*_charges(low_charge, high_charge), OTHER), True),
            ("hybridisation", (*HYBRIDISATIONS, OTHER), True),
            ("aromatic", ("yes",), False),
            ("in_ring", ("yes",), False),
            ("num_hs", (*_counts(config.max_hydrogens), f">{config.max_hydrogens}"), True),
            ("chirality", (*_CHIRAL_LABELS, OTHER), True),
        ]
        bond_specs = [
            ("bond_type", (*_BOND_TYPE_LABELS, OTHER), True),
            ("conjugated", ("yes",), False),
            ("in_ring", ("yes",), False),
            ("stereo", (*_STEREO_LABELS, OTHER), True),
        ]
        return cls(_stack(atom_specs), _stack(bond_specs))

    @property
    def atom_dim(self) -> int:
        last = self.atom_blocks[-1]
        return last.offset + last.size

    @property
    def bond_dim(self) -> int:
        last = self.bond_blocks[-1]
        return last.offset + last.size

    def atom_block(self, name: str) -> FeatureBlock:
        return _find(self.atom_blocks, name)

    def bond_block(self, name: str) -> FeatureBlock:
        return _find(self.bond_blocks, name)

    def atom_feature_names(self) -> list[str]:
        """A name per atom column: ``"element=C"`` (one-hot) or ``"aromatic"`` (flag)."""
        return _column_names(self.atom_blocks)

    def bond_feature_names(self) -> list[str]:
        """A name per bond column: ``"stereo=E"`` (one-hot) or ``"conjugated"`` (flag)."""
        return _column_names(self.bond_blocks)


def _column_names(blocks: tuple[FeatureBlock, ...]) -> list[str]:
    return [
        f"{block.name}={label}" if block.one_hot else block.name
        for block in blocks
        for label in block.labels
    ]


def _counts(highest: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(highest + 1))


def _charges(lowest: int, highest: int) -> tuple[str, ...]:
    return tuple(f"{c:+d}" if c else "0" for c in range(lowest, highest + 1))


def _find(blocks: tuple[FeatureBlock, ...], name: str) -> FeatureBlock:
    for block in blocks:
        if block.name == name:
            return block
    raise KeyError(f"no feature block named {name!r}; have {[b.name for b in blocks]}")
