"""Molecule-level features joined to a graph network's readout: Morgan counts, RDKit descriptors.

A :class:`MoleculeFeatureConfig` names the kind ("none", "morgan", "rdkit2d" or "both") and
sizes; a trained model stores it in its checkpoint beside the featurizer settings, and
:func:`molecule_features` computes the same columns from the molecules the graphs were made of
(the standardised RDKit molecules, :func:`zincfluor.chem.standardize.standardize_smiles`):

* **morgan**: folded Morgan count fingerprint (radius ``morgan_radius``, ``morgan_bits``
  columns, RDKit's ``rdFingerprintGenerator``), as log(1 + count);
* **rdkit2d**: the descriptors of :data:`RDKIT2D_DESCRIPTORS`, in that order, from
  ``rdkit.Chem.Descriptors`` (size, lipophilicity, polarity, H-bonding, ring and aromatic
  counts, graph complexity and connectivity, Gasteiger partial charges). A value RDKit cannot
  compute (NaN or ±inf, e.g. a partial charge for an element without Gasteiger parameters, or
  beyond float32) is returned as NaN.

Descriptors are scaled with statistics of the training split (:func:`fit_feature_scaling`); the
network's readout applies them and turns NaN into the training mean
(:class:`zincfluor.nn.readout.MoleculeFeatureReadout`). Morgan columns are not rescaled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

__all__ = [
    "MOLECULE_FEATURE_KINDS",
    "MOLECULE_FEATURES_VERSION",
    "RDKIT2D_DESCRIPTORS",
    "MoleculeFeatureConfig",
    "molecule_features",
    "molecule_features_of_smiles",
    "attach_molecule_features",
    "attach_model_features",
    "fit_feature_scaling",
]

MOLECULE_FEATURE_KINDS = ("none", "morgan", "rdkit2d", "both")

MOLECULE_FEATURES_VERSION = 1
"""Bumped whenever the columns (the descriptor list, their order or transforms) change."""

RDKIT2D_DESCRIPTORS: tuple[str, ...] = (
    "MolWt", "HeavyAtomCount", "NumValenceElectrons", "NumHeteroatoms",
    "MolLogP", "MolMR", "TPSA", "LabuteASA",
    "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "FractionCSP3",
    "RingCount", "NumAromaticRings", "NumAromaticCarbocycles", "NumAromaticHeterocycles",
    "NumAliphaticRings", "NumSaturatedRings",
    "BertzCT", "BalabanJ", "HallKierAlpha", "Kappa1", "Kappa2", "Chi0v", "Chi1v", "Chi2v",
    "MaxPartialCharge", "MinPartialCharge", "NumRadicalElectrons",
)
"""The RDKit 2D descriptors, by their ``rdkit.Chem.Descriptors`` names (each well under a
millisecond per dye-sized molecule except BertzCT, about 2 ms)."""

_DESCRIPTOR_FUNCTIONS = dict(Descriptors.descList)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class MoleculeFeatureConfig:
    """Which molecule-level features a model reads (stored in its checkpoint).

    Parameters
    ----------
    kind : "none", "morgan", "rdkit2d" or "both" (Morgan columns first)
    morgan_bits : folded fingerprint length
    morgan_radius : Morgan radius (2: ECFP4-like environments)
    version : column layout version; only :data:`MOLECULE_FEATURES_VERSION` can be computed
    """

    kind: str = "none"
    morgan_bits: int = 2048
    morgan_radius: int = 2
    version: int = MOLECULE_FEATURES_VERSION

    def __post_init__(self) -> None:
        if self.kind not in MOLECULE_FEATURE_KINDS:
            raise ValueError(
                f"molecule features must be one of {MOLECULE_FEATURE_KINDS}, got {self.kind!r}"
            )
        if self.morgan_bits < 1 or self.morgan_radius < 0:
            raise ValueError("morgan_bits must be >= 1 and morgan_radius >= 0")
        if self.version != MOLECULE_FEATURES_VERSION:
            raise ValueError(
                f"molecule feature version {self.version} cannot be computed by this zincfluor "
                f"(it computes version {MOLECULE_FEATURES_VERSION}); use the release that "
                "trained the model"
            )

    @property
    def uses_morgan(self) -> bool:
        return self.kind in ("morgan", "both")

    @property
    def uses_descriptors(self) -> bool:
        return self.kind in ("rdkit2d", "both")

    @property
    def dim(self) -> int:
        """Number of columns (0 for "none")."""
        return (self.morgan_bits if self.uses_morgan else 0) + (
            len(RDKIT2D_DESCRIPTORS) if self.uses_descriptors else 0
        )

    def column_names(self) -> list[str]:
        """``morgan_0`` ... then the descriptor names."""
        names = [f"morgan_{i}" for i in range(self.morgan_bits)] if self.uses_morgan else []
        return names + (list(RDKIT2D_DESCRIPTORS) if self.uses_descriptors else [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoleculeFeatureConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown molecule feature settings: {unknown}")
        return cls(**data)


def _morgan(mols: Sequence[Chem.Mol], config: MoleculeFeatureConfig) -> np.ndarray:
    generator = rdFingerprintGenerator.GetMorganGenerator(
        radius=config.morgan_radius, fpSize=config.morgan_bits
    )
    counts = np.zeros((len(mols), config.morgan_bits), dtype=np.float32)
    for row, mol in enumerate(mols):
        counts[row] = generator.GetCountFingerprintAsNumPy(mol)
    return np.log1p(counts)


def _descriptors(mols: Sequence[Chem.Mol]) -> np.ndarray:
    functions = [_DESCRIPTOR_FUNCTIONS[name] for name in RDKIT2D_DESCRIPTORS]
    values = np.array(
        [[function(mol) for function in functions] for mol in mols], dtype=np.float64
    ).reshape(len(mols), len(functions))
    values[~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX)] = np.nan
    return values.astype(np.float32)


def molecule_features(mols: Sequence[Chem.Mol], config: MoleculeFeatureConfig) -> np.ndarray:
    """float32 [len(mols), config.dim] features of ``mols`` (NaN where a descriptor failed).

    Pass the molecules the graphs were built from (standardised, as
    :func:`molecule_features_of_smiles` makes them), so model inputs agree.
    """
    for position, mol in enumerate(mols):
        if not isinstance(mol, Chem.Mol):
            raise TypeError(
                f"molecule {position}: expected an RDKit Mol, got {type(mol).__name__}; parse "
                "SMILES first (zincfluor.chem.standardize.standardize_smiles)"
            )
    blocks = []
    if config.uses_morgan:
        blocks.append(_morgan(mols, config))
    if config.uses_descriptors:
        blocks.append(_descriptors(mols))
    if not blocks:
        return np.zeros((len(mols), 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1)


def molecule_features_of_smiles(
    smiles: Sequence[str], config: MoleculeFeatureConfig, featurizer_config
) -> np.ndarray:
    """:func:`molecule_features` of the standardised molecules of ``smiles`` (the molecules that
    ``featurizer_config``'s featurizer makes graphs of). Every SMILES must be valid (use those
    that featurized); an invalid one raises ``InvalidMoleculeError``."""
    from zincfluor.chem.standardize import standardize_smiles

    mols = [standardize_smiles(text, featurizer_config).mol for text in smiles]
    return molecule_features(mols, config)


def attach_molecule_features(
    graphs: Sequence, smiles: Sequence[str], config: MoleculeFeatureConfig, featurizer_config
) -> np.ndarray:
    """Set ``mol_x`` (float32 [1, dim], so a PyG batch holds [B, dim]) on every graph that is not
    ``None``, computed from its SMILES; returns the features aligned with ``graphs`` (NaN rows
    where there is no graph), e.g. to fit :func:`fit_feature_scaling` on the training rows."""
    import torch

    if len(graphs) != len(smiles):
        raise ValueError(f"{len(graphs)} graphs but {len(smiles)} SMILES; pass them aligned")
    rows = [i for i, graph in enumerate(graphs) if graph is not None]
    aligned = np.full((len(graphs), config.dim), np.nan, dtype=np.float32)
    aligned[rows] = molecule_features_of_smiles(
        [smiles[i] for i in rows], config, featurizer_config
    )
    for i in rows:
        graphs[i].mol_x = torch.from_numpy(aligned[i : i + 1].copy())
    return aligned


def attach_model_features(graphs: Sequence, smiles: Sequence[str], metadata: dict) -> None:
    """Give ``graphs`` the ``mol_x`` that the model of checkpoint ``metadata`` reads (its
    ``molecule_features`` settings, computed with its ``featurizer`` settings); nothing for a
    model without molecule features (or a checkpoint from before they existed)."""
    settings = metadata.get("molecule_features")
    if not settings:
        return
    config = MoleculeFeatureConfig.from_dict(settings)
    if config.dim:
        from zincfluor.chem.config import FeaturizerConfig

        featurizer = FeaturizerConfig.from_dict(metadata["featurizer"])
        attach_molecule_features(graphs, smiles, config, featurizer)


def fit_feature_scaling(
    features: np.ndarray, config: MoleculeFeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (mean, scale) for z = (m - mean) / scale, fitted on training rows.

    Descriptor columns: mean and standard deviation over the finite values (a column that is
    constant, or NaN throughout, gets scale 1; an all-NaN column mean 0). Morgan columns
    (already log-counts in [0, ~5]) keep mean 0, scale 1.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != config.dim or len(features) == 0:
        raise ValueError(
            f"fit_feature_scaling needs a non-empty [n, {config.dim}] array for these "
            f"settings, got shape {features.shape}"
        )
    mean = np.zeros(config.dim)
    scale = np.ones(config.dim)
    start = config.morgan_bits if config.uses_morgan else 0
    if config.uses_descriptors:
        block = features[:, start:]
        finite = np.isfinite(block)
        count = finite.sum(axis=0)
        filled = np.where(finite, block, 0.0)
        block_mean = filled.sum(axis=0) / np.maximum(count, 1)
        variance = np.where(finite, (block - block_mean) ** 2, 0.0).sum(axis=0)
        block_std = np.sqrt(variance / np.maximum(count, 1))
        mean[start:] = block_mean
        scale[start:] = np.where(block_std > 1e-8, block_std, 1.0)
    return mean, scale
