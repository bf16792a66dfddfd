"""Packed Morgan fingerprints and popcount Tanimoto against RDKit's own."""

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from zincfluor.trust import fingerprints as fp
from zincfluor.trust.fingerprints import (
    FingerprintSettings,
    SimilarityIndex,
    morgan_fingerprints,
    nearest,
    popcount,
    tanimoto,
)

SMILES = [
    "CCN(CC)c1ccc2ccc(=O)oc2c1", "CCN(CC)c1ccc2c(C)cc(=O)oc2c1", "c1ccc2ccccc2c1", "CCO",
    "O=C1c2ccccc2C(=O)c2c1ccc(N)c2N", "c1ccc(-c2ccccc2)cc1", "CC(=O)Nc1ccc(O)cc1", "C",
]


def _rdkit_matrix(query, reference, radius=2, n_bits=2048):
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    ref = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in reference]
    return np.array([DataStructs.BulkTanimotoSimilarity(
        generator.GetFingerprint(Chem.MolFromSmiles(s)), ref) for s in query])


def test_packing_keeps_every_bit_and_popcount_counts_them():
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    packed = morgan_fingerprints(mols)
    assert packed.dtype == np.uint64 and packed.shape == (len(SMILES), 32)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    for row, mol in zip(packed, mols, strict=True):
        bits = np.unpackbits(row.view(np.uint8), bitorder="little")
        assert (bits == generator.GetFingerprintAsNumPy(mol)).all()
    assert popcount(packed).tolist() == [generator.GetFingerprint(m).GetNumOnBits() for m in mols]


@pytest.mark.parametrize("settings", [FingerprintSettings(), FingerprintSettings(3, 1024)])
def test_tanimoto_equals_rdkit_bulk_tanimoto(settings):
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    packed = morgan_fingerprints(mols, settings)
    expected = _rdkit_matrix(SMILES, SMILES, settings.radius, settings.n_bits)
    np.testing.assert_allclose(tanimoto(packed, packed), expected, atol=1e-6)


def test_blocks_and_the_lookup_table_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 2**63, size=(50, 4), dtype=np.uint64)
    query = rng.integers(0, 2**63, size=(23, 4), dtype=np.uint64)
    whole = tanimoto(query, reference)
    monkeypatch.setattr(fp, "_BLOCK_PAIRS", 60)  # one query row per block
    monkeypatch.delattr(np, "bitwise_count", raising=False)  # numpy < 2: the byte table
    np.testing.assert_array_equal(tanimoto(query, reference), whole)
    bits = np.unpackbits(query.view(np.uint8), axis=1).sum(axis=1)
    assert popcount(query).tolist() == bits.tolist()


def test_empty_fingerprints_have_similarity_zero_and_mismatches_are_refused():
    empty = morgan_fingerprints([None, Chem.MolFromSmiles("CCO")])
    assert not empty[0].any()
    assert tanimoto(empty, empty)[0].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="same FingerprintSettings"):
        tanimoto(empty, morgan_fingerprints([None], FingerprintSettings(2, 1024)))
    with pytest.raises(ValueError, match="uint64"):
        tanimoto(empty.astype(np.int64), empty)


def test_nearest_is_sorted_and_breaks_ties_by_the_lower_index():
    reference = morgan_fingerprints([Chem.MolFromSmiles(s) for s in
                                     ["CCO", "c1ccccc1", "CCO", "CCCO", "c1ccccc1O"]])
    query = morgan_fingerprints([Chem.MolFromSmiles(s) for s in ["CCO", "Oc1ccccc1"]])
    indices, similarities = nearest(query, reference, k=3)
    assert indices[0, :2].tolist() == [0, 2]  # the two identical references, lower index first
    assert similarities[0, 0] == 1.0 and indices[1, 0] == 4
    assert (np.diff(similarities, axis=1) <= 0).all()
    full = tanimoto(query, reference)
    np.testing.assert_array_equal(similarities, np.take_along_axis(full, indices, axis=1))
    assert nearest(query, reference[:2], k=3)[0].shape == (2, 2)


def test_the_on_bit_index_gives_the_popcount_similarities():
    mols = [Chem.MolFromSmiles(s) for s in SMILES]
    packed = morgan_fingerprints(mols)
    index = SimilarityIndex(packed[2:])
    np.testing.assert_array_equal(index.similarity(packed), tanimoto(packed, packed[2:]))
    for got, expected in zip(index.nearest(packed, 2), nearest(packed, packed[2:], 2),
                             strict=True):
        np.testing.assert_array_equal(got, expected)
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 2**63, size=(40, 2), dtype=np.uint64)
    np.testing.assert_array_equal(SimilarityIndex(dense[10:]).similarity(dense[:10]),
                                  tanimoto(dense[:10], dense[10:]))
    with pytest.raises(ValueError, match="same FingerprintSettings"):
        index.similarity(dense)
