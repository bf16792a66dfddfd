"""Molecules for zincfluor: SMILES parsing and SMILES -> graph featurization.

>>> from zincfluor.chem import FeaturizerConfig, featurize_many
>>> result = featurize_many(["CCO", "C1CC"], FeaturizerConfig())
>>> result.graphs[0].x.shape, result.graphs[1], str(result.errors[0])
(torch.Size([3, 45]), None, "row 1: 'C1CC' is not a valid SMILES (unclosed ring)")
"""

import importlib

# Exports load on first use (PEP 562): importing zincfluor.chem.smiles, e.g. to read a table,
# should not pay torch and torch-geometric's import time (about 4 s) when no graph is built.
_EXPORTS = {
    "FeaturizedSet": "batch",
    "featurize_many": "batch",
    "default_cache_dir": "cache",
    "featurize_cached": "cache",
    "FEATURE_LAYOUT_VERSION": "config",
    "FeaturizerConfig": "config",
    "DeepChemFeaturizer": "deepchem_backend",
    "FeaturizationError": "errors",
    "MoleculeFeaturizer": "featurizer",
    "make_featurizer": "featurizer",
    "FeatureBlock": "layout",
    "FeatureLayout": "layout",
    "InvalidMoleculeError": "smiles",
    "canonical_smiles": "smiles",
    "parse_smiles": "smiles",
    "try_canonical_smiles": "smiles",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zincfluor.chem' has no attribute {name!r}")
    module = importlib.import_module(f"zincfluor.chem.{_EXPORTS[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
