"""Molecules for zincfluor: SMILES parsing and SMILES -> graph featurization.

>>> from zincfluor.chem import FeaturizerConfig, featurize_many
>>> result = featurize_many(["CCO", "C1CC"], FeaturizerConfig())
>>> result.graphs[0].x.shape, result.graphs[1], str(result.errors[0])
(torch.Size([3, 45]), None, "row 1: 'C1CC' is not a valid SMILES (unclosed ring)")
"""

from zincfluor.chem.batch import FeaturizedSet, featurize_many
from zincfluor.chem.cache import default_cache_dir, featurize_cached
from zincfluor.chem.config import FEATURE_LAYOUT_VERSION, FeaturizerConfig
from zincfluor.chem.deepchem_backend import DeepChemFeaturizer
from zincfluor.chem.errors import FeaturizationError
from zincfluor.chem.featurizer import MoleculeFeaturizer, make_featurizer
from zincfluor.chem.layout import FeatureBlock, FeatureLayout
from zincfluor.chem.smiles import (
    InvalidMoleculeError,
    canonical_smiles,
    parse_smiles,
    try_canonical_smiles,
)

__all__ = [
    "FEATURE_LAYOUT_VERSION",
    "DeepChemFeaturizer",
    "FeatureBlock",
    "FeatureLayout",
    "FeaturizationError",
    "FeaturizedSet",
    "FeaturizerConfig",
    "InvalidMoleculeError",
    "MoleculeFeaturizer",
    "canonical_smiles",
    "default_cache_dir",
    "featurize_cached",
    "featurize_many",
    "make_featurizer",
    "parse_smiles",
    "try_canonical_smiles",
]
