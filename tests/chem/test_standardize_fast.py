"""The standardiser's speed-ups (each SMILES written once per change, C++ scope checks, the
canonical read-back without the empty hydrogen-removal pass) change nothing it returns."""

import csv

import numpy as np
import pytest
from rdkit import Chem
from standardize_reference import reference_standardize

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.encoding import GraphEncoder
from zincfluor.chem.smiles import InvalidMoleculeError, parse_smiles
from zincfluor.chem.standardize import StandardizerConfig, out_of_scope_reason, standardize
from zincfluor.trust.fingerprints import FingerprintSettings, morgan_fingerprints

MOLECULES = [
    "CCN(CC)c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3[o+]c2c1.[Cl-]",  # salt, resonance
    "CC[N+](CC)=c1ccc2c(-c3ccccc3C(=O)O)c3ccc(N(CC)CC)cc3oc-2c1",
    "[Cl-].CN(C)C1=CC2=[S+]C3=CC(N(C)C)=CC=C3N=C2C=C1",
    "CC1(C)C(C=CC=C2N(C)c3ccccc3S2)=[N+](C)c2ccccc21",
    "CC[NH+](CC)c1ccc2c(C)cc(=O)oc2c1.[Cl-]",  # neutralised
    "O.CCN(CC)c1ccc2c(C)cc(=O)oc2c1",  # hydrate
    "[Na+].[Na+].O=C([O-])c1ccccc1-c1c2ccc([O-])cc2oc2cc(=O)ccc12",
    "O=[N+]([O-])c1ccc(N)cc1",  # nitro: paired charges
    "CN(=O)=O",  # hypervalent nitro: normalised
    "C[n+]1ccccc1",  # a charge nothing removes
    "c1ccc2c(c1)[nH]c1ccccc12",
    "c1ccccc1[Se]C",  # Se
    "C[Si](C)(C)c1ccc(cc1)[Ge](C)(C)C",
    "[2H]c1ccccc1",  # an explicit hydrogen isotope: the full read-back
    "[H]/C(F)=C(/[H])Cl",
    "C[C@H](N)C(=O)O",
    "F/C=C/c1ccccc1",
    "[Na+].[Cl-]",  # no carbon
    "[Cl-]",  # a lone ion
    "O=S(=O)(O)c1ccc(cc1)[Pt](Cl)Cl",  # an element unseen by a restricted model
    "CC(=O)Oc1ccccc1C(=O)O",
    "B1(c2ccccc2)OC(=O)c2ccccc2O1",
]

CONFIGS = [
    StandardizerConfig(),
    StandardizerConfig(enabled=False),
    StandardizerConfig(normalize=False),
    StandardizerConfig(neutralize=False, resonance=False),
    StandardizerConfig(allowed_elements=("C", "N", "O", "S", "Cl")),
    StandardizerConfig(allowed_elements=("B", "Br", "C", "Cl", "F", "Ge", "N", "O", "Se", "Si")),
]


def _same_as_reference(texts, configs):
    encoder = GraphEncoder(FeaturizerConfig())
    for config in configs:
        new, old = [], []
        for text in texts:
            try:
                mol = parse_smiles(text)
            except InvalidMoleculeError:
                continue
            fast, slow = standardize(mol, config), reference_standardize(mol, config)
            assert (fast.smiles, fast.notes, fast.out_of_scope) == (
                slow.smiles, slow.notes, slow.out_of_scope), (text, config)
            assert Chem.MolToMolBlock(fast.mol) == Chem.MolToMolBlock(slow.mol), text
            new.append(fast)
            old.append(slow)
        a = encoder.encode_many([m.mol for m in new], [m.smiles for m in new])
        b = encoder.encode_many([m.mol for m in old], [m.smiles for m in old])
        for name in ("x", "edge_index", "edge_attr", "atom_counts", "edge_counts"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        settings = FingerprintSettings()
        assert np.array_equal(morgan_fingerprints([m.mol for m in new], settings),
                              morgan_fingerprints([m.mol for m in old], settings))


def test_fast_standardiser_returns_what_the_step_by_step_one_did():
    _same_as_reference(MOLECULES, CONFIGS)


def test_scope_queries_name_the_same_reasons_as_an_atom_loop():
    cases = {
        "[Cl-]": "a lone atom or ion (not a chromophore)",
        "[Na+].[Cl-]": "no carbon atom (an inorganic molecule or salt)",
        "O=S(=O)(O)[Se]Cl": "no carbon atom (an inorganic molecule or salt)",
        "C[Se]c1ccc([Te]C)cc1": ("element Se and Te never occurs in the model's training data "
                                 "(its prediction would be a guess)"),
        "*c1ccccc1": None,  # a dummy atom is no element
        "[2H]C([2H])([2H])c1ccccc1": None,
    }
    for text, reason in cases.items():
        assert out_of_scope_reason(Chem.MolFromSmiles(text), ("C", "Cl", "O", "S")) == reason
    assert out_of_scope_reason(Chem.MolFromSmiles("C[Se]C"), None) is None
    # a symbol RDKit does not know cannot match an atom, and is not an error
    assert out_of_scope_reason(Chem.MolFromSmiles("CC"), ("C", "Xx")) is None


@pytest.mark.slow
def test_fast_standardiser_matches_on_every_deep4chem_chromophore(shared_deep4chem):
    with open(shared_deep4chem, encoding="utf-8-sig", newline="") as handle:
        texts = sorted({row["Chromophore"].strip() for row in csv.DictReader(handle)})
    _same_as_reference(texts, CONFIGS[:1] + CONFIGS[-1:])
