"""Molecule-level features: Morgan log-counts, the RDKit descriptor list, scaling statistics."""

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.chem.molecule_features import (
    RDKIT2D_DESCRIPTORS,
    MoleculeFeatureConfig,
    attach_model_features,
    attach_molecule_features,
    fit_feature_scaling,
    molecule_features,
    molecule_features_of_smiles,
)

MOLS = [Chem.MolFromSmiles(s) for s in ("CCO", "c1ccccc1O", "C[Se]C")]


def test_config_sizes_names_and_round_trip():
    assert MoleculeFeatureConfig().dim == 0
    assert MoleculeFeatureConfig("morgan", morgan_bits=1024).dim == 1024
    assert MoleculeFeatureConfig("rdkit2d").dim == len(RDKIT2D_DESCRIPTORS)
    both = MoleculeFeatureConfig("both", morgan_bits=64)
    assert both.dim == 64 + len(RDKIT2D_DESCRIPTORS)
    assert both.column_names()[63:65] == ["morgan_63", "MolWt"]
    assert MoleculeFeatureConfig.from_dict(both.to_dict()) == both
    with pytest.raises(ValueError, match="must be one of"):
        MoleculeFeatureConfig("maccs")
    with pytest.raises(ValueError, match="unknown molecule feature settings"):
        MoleculeFeatureConfig.from_dict({"kind": "morgan", "bits": 3})
    with pytest.raises(ValueError, match="version 9"):
        MoleculeFeatureConfig(version=9)


@pytest.mark.parametrize("bits", [2048, 16])
def test_morgan_columns_are_log1p_of_folded_counts(bits):
    config = MoleculeFeatureConfig("morgan", morgan_bits=bits)
    features = molecule_features(MOLS, config)
    assert features.shape == (3, bits) and features.dtype == np.float32
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=bits)
    for row, mol in enumerate(MOLS):
        expected = np.zeros(bits)
        for index, count in generator.GetCountFingerprint(mol).GetNonzeroElements().items():
            expected[index] = count
        np.testing.assert_allclose(features[row], np.log1p(expected), rtol=1e-6)
    # ethanol: 3 atoms, each with a radius-0 and a distinct radius-1 environment; every
    # radius-2 environment covers the same two bonds as the middle carbon's radius-1 one and
    # RDKit drops such duplicates: 6 environments in all
    if bits == 2048:
        assert np.expm1(features[0]).round().sum() == 6


def test_descriptor_columns_follow_the_documented_list_and_nan_where_rdkit_fails():
    config = MoleculeFeatureConfig("rdkit2d")
    features = molecule_features(MOLS, config)
    column = {name: i for i, name in enumerate(RDKIT2D_DESCRIPTORS)}
    assert features[0, column["HeavyAtomCount"]] == 3
    assert features[1, column["NumAromaticRings"]] == 1
    np.testing.assert_allclose(features[0, column["MolWt"]], 46.069, atol=1e-3)
    np.testing.assert_allclose(features[1, column["TPSA"]], Descriptors.TPSA(MOLS[1]), rtol=1e-6)
    # RDKit has no Gasteiger parameters for selenium: partial charges are NaN, the rest finite
    charges = [column["MaxPartialCharge"], column["MinPartialCharge"]]
    assert np.isnan(features[2, charges]).all()
    assert np.isfinite(np.delete(features, charges, axis=1)).all()


def test_both_kinds_are_morgan_then_descriptors():
    both = molecule_features(MOLS, MoleculeFeatureConfig("both", morgan_bits=32))
    morgan = molecule_features(MOLS, MoleculeFeatureConfig("morgan", morgan_bits=32))
    descriptors = molecule_features(MOLS, MoleculeFeatureConfig("rdkit2d"))
    np.testing.assert_array_equal(both, np.concatenate([morgan, descriptors], axis=1))
    assert molecule_features(MOLS, MoleculeFeatureConfig()).shape == (3, 0)


def test_features_are_those_of_the_standardised_molecule():
    """A SMILES written differently, or as a salt, gives the molecule the graph is made of."""
    config = MoleculeFeatureConfig("both", morgan_bits=64)
    features = molecule_features_of_smiles(["OCC", "C(C)O", "CCO.Cl"], config, FeaturizerConfig())
    np.testing.assert_array_equal(features[0], features[1])
    np.testing.assert_array_equal(features[0], features[2])


def test_graphs_carry_their_features_as_one_row_and_batch_as_b_rows():
    from torch_geometric.data import Batch

    smiles = ["CCO", "C1CC", "c1ccccc1"]
    graphs = featurize_many(smiles, FeaturizerConfig()).graphs
    config = MoleculeFeatureConfig("rdkit2d")
    aligned = attach_molecule_features(graphs, smiles, config, FeaturizerConfig())
    assert np.isnan(aligned[1]).all()  # 'C1CC' has no graph
    assert graphs[0].mol_x.shape == (1, config.dim)
    np.testing.assert_array_equal(graphs[2].mol_x.numpy()[0], aligned[2])
    batch = Batch.from_data_list([graphs[0], graphs[2]])
    assert batch.mol_x.shape == (2, config.dim)


def test_a_checkpoint_gets_the_features_its_model_reads():
    smiles = ["CCO", "c1ccccc1"]
    featurizer = FeaturizerConfig()
    metadata = {"featurizer": featurizer.to_dict(),
                "molecule_features": MoleculeFeatureConfig("morgan", morgan_bits=8).to_dict()}
    graphs = featurize_many(smiles, featurizer).graphs
    attach_model_features(graphs, smiles, metadata)
    assert graphs[1].mol_x.shape == (1, 8)
    older = featurize_many(smiles, featurizer).graphs
    attach_model_features(older, smiles, {"featurizer": featurizer.to_dict()})  # no settings
    assert "mol_x" not in older[0]


def test_non_molecules_are_rejected_with_the_fix():
    with pytest.raises(TypeError, match="molecule 1: expected an RDKit Mol, got str"):
        molecule_features([MOLS[0], "CCO"], MoleculeFeatureConfig("morgan"))


def test_scaling_uses_finite_training_values_and_leaves_morgan_columns():
    config = MoleculeFeatureConfig("both", morgan_bits=2)
    n_descriptors = len(RDKIT2D_DESCRIPTORS)
    features = np.zeros((3, 2 + n_descriptors), dtype=np.float32)
    features[:, 0] = [1.0, 2.0, 3.0]  # a Morgan column: not rescaled
    features[:, 2] = [1.0, 3.0, np.nan]  # mean 2, std 1 over the two finite values
    features[:, 3] = [5.0, 5.0, 5.0]  # constant: scale 1
    features[:, 4] = np.nan  # never computed: mean 0, scale 1
    mean, scale = fit_feature_scaling(features, config)
    assert mean[:2].tolist() == [0.0, 0.0] and scale[:2].tolist() == [1.0, 1.0]
    assert (mean[2], scale[2]) == (2.0, 1.0)
    assert (mean[3], scale[3]) == (5.0, 1.0)
    assert (mean[4], scale[4]) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"\[n, 31\]"):
        fit_feature_scaling(features[:, :5], config)
