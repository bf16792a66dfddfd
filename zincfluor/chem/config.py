"""Featurizer settings as plain data, so a checkpoint can rebuild the exact featurizer.

A :class:`FeaturizerConfig` is what a trained model stores next to its weights: ``to_dict()``
gives only JSON types (loadable with ``torch.load(weights_only=True)``) and ``from_dict()``
rebuilds the same settings, refusing a dict written for another feature layout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any

from rdkit import Chem

from zincfluor.chem.standardize import StandardizerConfig

__all__ = [
    "FEATURE_LAYOUT_VERSION",
    "DEFAULT_ELEMENTS",
    "BACKENDS",
    "ATOMIC_NUMBERS",
    "FeaturizerConfig",
]

FEATURE_LAYOUT_VERSION = 1
"""Bumped whenever the meaning or order of feature columns changes."""

DEFAULT_ELEMENTS: tuple[str, ...] = (
    "C", "N", "O", "S", "F", "B", "Cl", "Si", "Br", "P", "I", "Se",
)
"""Every element found in at least 20 Deep4Chem chromophores; Ge, Na, Sn, Te (one or two
molecules each) and anything else share the "other" slot."""

BACKENDS = ("zincfluor", "deepchem")

# Built once from RDKit's table; asking RDKit for an unknown symbol prints a stack trace.
ATOMIC_NUMBERS: dict[str, int] = {
    Chem.GetPeriodicTable().GetElementSymbol(z): z for z in range(1, 119)
}


@dataclass(frozen=True)
class FeaturizerConfig:
    """Settings that fully determine a molecule graph's features.

    Parameters
    ----------
    backend : "zincfluor" (this package's RDKit featurizer) or "deepchem"
        (``MolGraphConvFeaturizer(use_edges=True)``; the layout settings below are then unused).
    elements : elements with their own one-hot slot; every other element goes to "other".
    max_degree : degrees 0..max_degree get a slot each, higher degrees share one.
    formal_charges : inclusive ``(lowest, highest)`` charge with its own slot.
    max_hydrogens : total hydrogen counts 0..max_hydrogens get a slot each.
    max_heavy_atoms, max_smiles_length : larger inputs are rejected as invalid.
    standardizer : how a molecule is standardised before featurization
        (:class:`~zincfluor.chem.standardize.StandardizerConfig`). It lives here so that every
        place that builds features (training, evaluation, ``predict``, ``screen``, the service)
        applies the same steps, and a checkpoint saves them beside the feature layout. A
        checkpoint written before standardisation existed gets the default settings.
    version : feature layout version; only :data:`FEATURE_LAYOUT_VERSION` can be built.
    """

    backend: str = "zincfluor"
    elements: tuple[str, ...] = DEFAULT_ELEMENTS
    max_degree: int = 5
    formal_charges: tuple[int, int] = (-2, 2)
    max_hydrogens: int = 4
    max_heavy_atoms: int = 250
    max_smiles_length: int = 2000
    standardizer: StandardizerConfig = StandardizerConfig()
    version: int = FEATURE_LAYOUT_VERSION

    def __post_init__(self) -> None:
        # Accept lists (as found in a loaded dict) but store tuples, so configs stay hashable.
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "formal_charges", tuple(self.formal_charges))
        if isinstance(self.standardizer, dict):
            settings = StandardizerConfig.from_dict(self.standardizer)
            object.__setattr__(self, "standardizer", settings)
        self._validate()

    def _validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.version != FEATURE_LAYOUT_VERSION:
            raise ValueError(
                f"feature layout version {self.version} cannot be built by this zincfluor "
                f"(it builds version {FEATURE_LAYOUT_VERSION}); use the zincfluor release "
                "that trained the model"
            )
        if not self.elements or len(set(self.elements)) != len(self.elements):
            raise ValueError(f"elements must be non-empty and distinct, got {self.elements}")
        for symbol in self.elements:
            if symbol not in ATOMIC_NUMBERS:
                raise ValueError(f"unknown element symbol {symbol!r}")
        if len(self.formal_charges) != 2 or self.formal_charges[0] > self.formal_charges[1]:
            raise ValueError(
                f"formal_charges must be (lowest, highest), got {self.formal_charges}"
            )
        for name in ("max_degree", "max_hydrogens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("max_heavy_atoms", "max_smiles_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """Settings as JSON types only (str, int, list), e.g. for a checkpoint."""
        out = asdict(self)
        out["elements"] = list(self.elements)
        out["formal_charges"] = list(self.formal_charges)
        out["standardizer"] = self.standardizer.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeaturizerConfig:
        """Rebuild settings from :meth:`to_dict` output; unknown keys are an error."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown featurizer settings: {unknown}")
        return cls(**data)

    @cached_property
    def _dims(self) -> tuple[int, int]:
        if self.backend == "deepchem":
            from zincfluor.chem.deepchem_backend import deepchem_feature_dims

            return deepchem_feature_dims()
        from zincfluor.chem.layout import FeatureLayout

        layout = FeatureLayout.from_config(self)
        return layout.atom_dim, layout.bond_dim

    @property
    def atom_dim(self) -> int:
        """Number of columns of ``x`` (node features)."""
        return self._dims[0]

    @property
    def bond_dim(self) -> int:
        """Number of columns of ``edge_attr`` (edge features)."""
        return self._dims[1]
