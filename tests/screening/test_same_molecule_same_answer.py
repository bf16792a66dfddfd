"""Same molecule, same answer: the shipped model's output does not depend on how a molecule is
written (atom order, stereo notation, salt form, resonance form of a dye cation)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from zincfluor.screening import Predictor

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "emission8-default"


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load(SHIPPED, device="cpu", batch_size=256)


def random_forms(smiles: str, n: int, seed: int) -> list[str]:
    """``n`` RDKit random SMILES of ``smiles`` (other atom orders and stereo spellings)."""
    return list(Chem.MolToRandomSmilesVect(Chem.MolFromSmiles(smiles), n, randomSeed=seed))


@pytest.mark.slow
@pytest.mark.shared_data
def test_random_smiles_of_deep4chem_molecules_give_equal_probabilities(predictor,
                                                                       shared_deep4chem):
    table = pd.read_csv(shared_deep4chem, encoding="utf-8-sig", usecols=["Chromophore"])
    unique = pd.Series(table["Chromophore"].dropna().unique())
    chiral = unique[unique.str.contains("@")]
    others = unique[~unique.str.contains("@")].sample(500, random_state=0)
    molecules = pd.concat([chiral, others]).tolist()
    assert len(chiral) >= 150 and len(molecules) >= 650
    forms = [random_forms(smiles, 5, seed) for seed, smiles in enumerate(molecules)]
    original = predictor.predict(molecules)
    rewritten = predictor.predict([form for group in forms for form in group])
    assert all(status == "ok" for status in original.status)
    expected = np.repeat(original.probs, 5, axis=0)
    assert rewritten.canonical == [c for c in original.canonical for _ in range(5)]
    np.testing.assert_allclose(rewritten.probs, expected, rtol=0, atol=1e-6)


DYE_FORMS = [
    # rhodamine B: xanthylium, iminium, chloride salt
    ["CCN(CC)c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3[o+]c2c1",
     "CC[N+](CC)=c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3oc-2c1",
     "[Cl-].CCN(CC)c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3[o+]c2c1"],
    # methylene blue: thiazinium chloride, iminium
    ["CN(C)c1ccc2nc3ccc(N(C)C)cc3[s+]c2c1.[Cl-]",
     "CN(C)c1ccc2nc3ccc(=[N+](C)C)cc-3sc2c1"],
    # coumarin 1 and its hydrochloride
    ["CCN(CC)c1ccc2c(C)cc(=O)oc2c1",
     "CC[NH+](CC)c1ccc2c(C)cc(=O)oc2c1.[Cl-]"],
]


@pytest.mark.parametrize("forms", DYE_FORMS, ids=["rhodamine B", "methylene blue", "coumarin 1"])
def test_salt_and_resonance_forms_of_a_dye_get_one_answer(predictor, forms):
    result = predictor.predict(forms)
    assert result.status == ["ok"] * len(forms)
    assert len(set(result.canonical)) == 1
    np.testing.assert_allclose(result.probs, np.repeat(result.probs[:1], len(forms), axis=0),
                               rtol=0, atol=1e-6)
    assert all(notes for notes in result.notes[1:]), result.notes


def test_inorganic_salts_and_lone_ions_get_no_score(predictor):
    result = predictor.predict(["[Na+].[Cl-]", "O=S(=O)(O)O", "c1ccccc1O"])
    assert result.status[0].startswith("out_of_scope: a lone atom or ion")
    assert result.status[1].startswith("out_of_scope: no carbon atom")
    assert result.status[2] == "ok"
    assert np.isnan(result.probs[:2]).all() and result.levels.tolist()[:2] == [-1, -1]
    assert result.ok.tolist() == [False, False, True]
