"""solvent_features: RDKit descriptors plus the table's physical descriptors with a mask."""

import numpy as np
import pytest

from zincfluor.chem.smiles import InvalidMoleculeError
from zincfluor.data.solvent_features import (
    SOLVENT_FEATURE_NAMES,
    onsager_function,
    solvent_features,
)
from zincfluor.data.solvents import find_solvent, lippert_mataga_df


def features(smiles):
    return dict(zip(SOLVENT_FEATURE_NAMES, solvent_features(smiles), strict=True))


def test_length_dtype_and_spelling_independence():
    vector = solvent_features("C(Cl)Cl")
    assert vector.shape == (len(SOLVENT_FEATURE_NAMES),) and vector.dtype == np.float64
    np.testing.assert_array_equal(vector, solvent_features("ClCCl"))


def test_rdkit_part():
    water = features("O")
    assert (water["h_bond_donors"], water["h_bond_acceptors"]) == (2.0, 1.0)
    assert water["heavy_atoms"] == 1.0 and water["tpsa"] == pytest.approx(31.5)
    toluene = features("Cc1ccccc1")
    assert toluene["aromatic_rings"] == 1.0 and toluene["h_bond_donors"] == 0.0
    assert toluene["fraction_csp3"] == pytest.approx(1 / 7)
    assert features("ClC(Cl)Cl")["halogen_atoms"] == 3.0


def test_physical_part_from_the_table():
    entry = find_solvent("acetonitrile")
    row = features("CC#N")
    assert row["has_physical"] == 1.0
    assert row["onsager_f_epsilon"] == pytest.approx((35.688 - 1) / (2 * 35.688 + 1))
    assert row["onsager_f_n2"] == pytest.approx(onsager_function(1.3442**2))
    assert row["lippert_mataga_df"] == pytest.approx(
        lippert_mataga_df(entry.epsilon, entry.refractive_index)
    )
    assert (row["abraham_alpha"], row["abraham_beta"]) == (0.07, 0.32)
    # polar solvents have a larger orientation polarisability than alkanes
    assert features("CCCCCC")["lippert_mataga_df"] == pytest.approx(0.0, abs=0.01)
    assert row["lippert_mataga_df"] > 0.25


@pytest.mark.parametrize("smiles", ["OCC(O)CO", "CCCCCCCCCCCCCCCCCl"])  # glycerol: no eps
def test_missing_physical_descriptors_are_masked_not_guessed(smiles):
    row = features(smiles)
    physical = ["onsager_f_epsilon", "onsager_f_n2", "lippert_mataga_df",
                "abraham_alpha", "abraham_beta", "has_physical"]
    assert [row[name] for name in physical] == [0.0] * len(physical)
    assert row["heavy_atoms"] > 0


def test_invalid_smiles_raises():
    with pytest.raises(InvalidMoleculeError):
        solvent_features("toluene")
