"""The on-bit index's block-wise sparse product gives, bit for bit, what its former per-query
loop gave (and :func:`tanimoto`), whatever the block size, including dense fingerprints whose
counts pass 255 and empty rows on either side."""

import numpy as np
import pytest

from zincfluor.trust import fingerprints
from zincfluor.trust.fingerprints import SimilarityIndex, tanimoto


def _loop_similarity(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The index's former search: one query at a time, its on-bit rows gathered and added."""
    by_bit = np.ascontiguousarray(
        np.unpackbits(reference.view(np.uint8), axis=1, bitorder="little").T)
    counts = fingerprints.popcount(reference)
    bits = np.unpackbits(query.view(np.uint8), axis=1, bitorder="little")
    out = np.zeros((len(query), len(reference)), dtype=np.float32)
    for row, on in enumerate(bits):
        positions = np.flatnonzero(on)
        both = by_bit[positions].sum(axis=0, dtype=np.int32)
        union = positions.size + counts - both
        np.divide(both, union, out=out[row], where=union > 0)
    return out


def _fingerprints(rng, n: int, words: int, density: float) -> np.ndarray:
    bits = (rng.random((n, words * 64)) < density).astype(np.uint8)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view(np.uint64).reshape(n, words)


@pytest.mark.parametrize("block_pairs", [1, 7, 1 << 20])
def test_block_products_equal_the_per_query_loop(monkeypatch, block_pairs):
    monkeypatch.setattr(fingerprints, "_INDEX_BLOCK_PAIRS", block_pairs)
    rng = np.random.default_rng(11)
    sparse = _fingerprints(rng, 60, 32, 0.02)  # ~40 of 2048 bits, like a dye
    dense = _fingerprints(rng, 9, 32, 0.6)  # ~1,200 on bits: counts far past uint8
    reference = np.concatenate([sparse[20:], dense[:4], np.zeros((2, 32), np.uint64)])
    query = np.concatenate([sparse[:20], dense[4:], np.zeros((1, 32), np.uint64)])
    index = SimilarityIndex(reference)
    got = index.similarity(query)
    assert got.dtype == np.float32 and got.shape == (len(query), len(reference))
    np.testing.assert_array_equal(got, _loop_similarity(query, reference))
    np.testing.assert_array_equal(got, tanimoto(query, reference))
    assert (got[-1] == 0).all() and (got[:, -2:] == 0).all()  # empty rows: similarity 0


def test_no_queries_and_no_references():
    rng = np.random.default_rng(2)
    some = _fingerprints(rng, 5, 2, 0.3)
    assert SimilarityIndex(some).similarity(some[:0]).shape == (0, 5)
    assert SimilarityIndex(some[:0]).similarity(some).shape == (5, 0)
