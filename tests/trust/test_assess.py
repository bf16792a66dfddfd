"""Every trust field of a batch, aligned with the inputs, from a model's trust files."""

import numpy as np
import pytest
from rdkit import Chem

from zincfluor.trust.assess import assess
from zincfluor.trust.conformal import fit_interval_conformal, fit_level_conformal
from zincfluor.trust.domain import fit_domain
from zincfluor.trust.fingerprints import FingerprintSettings
from zincfluor.trust.neighbours import build_reference_set
from zincfluor.trust.store import TrustFiles

LEVELS = ["blue", "green", "red"]
TRAINING = ["CCN(CC)c1ccc2ccc(=O)oc2c1", "c1ccc2ccccc2c1", "CCCCO", "O=C(O)c1ccccc1"]


def _trust(**parts) -> TrustFiles:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=90)
    labels = rng.integers(0, 3, size=90)
    nm = rng.uniform(400, 600, size=90)
    defaults = dict(
        levels=fit_level_conformal(probs, labels, LEVELS),
        interval=fit_interval_conformal(nm * 0.95, nm * 1.05, nm * 1.1, head_coverage=0.8),
        domain=fit_domain(np.array([0.2, 0.3, 0.6, 0.9]), np.array([1.0, 1.0, 0.0, 0.0])),
        reference_set=build_reference_set(TRAINING, [450.0, 330.0, 310.0, 300.0],
                                          [0, 0, 0, 0], [(), (), (), ()], LEVELS),
    )
    defaults.update(parts)
    return TrustFiles(**defaults)


def test_fields_are_aligned_with_the_inputs_and_empty_where_not_scored():
    trust = _trust()
    probs = np.array([[0.7, 0.2, 0.1], [np.nan] * 3, [0.1, 0.1, 0.8]])
    nm = np.array([[450.0, 430.0, 470.0], [np.nan] * 3, [300.0, 290.0, 320.0]])
    molecules = [Chem.MolFromSmiles(TRAINING[0]), None, "CCCCCO"]
    result = assess(trust, probs, molecules, emission_nm=nm)
    assert set(result.prediction_sets) == {"0.9", "0.8"}
    np.testing.assert_array_equal(result.prediction_sets["0.9"],
                                  trust.levels.prediction_sets(probs, 0.1))
    assert not result.prediction_sets["0.8"][1].any()
    low, high = trust.interval.interval(nm[:, 1], nm[:, 2], 0.2)
    np.testing.assert_allclose(result.emission_interval["0.8"][:, 0], low)
    np.testing.assert_allclose(result.emission_interval["0.8"][:, 1], high)
    assert result.max_similarity[0] == 1.0 and np.isnan(result.max_similarity[1])
    assert result.in_domain.tolist() == [True, False, bool(result.max_similarity[2] >= 0.6)]
    assert result.neighbours[0][0].smiles == TRAINING[0] and result.neighbours[1] == []
    assert result.neighbours[2][0].smiles == "CCCCO" and len(result.neighbours[2]) == 3


def test_missing_parts_give_empty_fields():
    result = assess(TrustFiles(), np.array([[0.5, 0.3, 0.2]]), ["CCO"])
    assert result.prediction_sets == {} and result.emission_interval is None
    assert np.isnan(result.max_similarity[0]) and not result.in_domain[0]
    assert result.neighbours == [[]]


def test_mismatched_inputs_and_fingerprints_are_refused():
    with pytest.raises(ValueError, match="one \\(None where not scored\\) per input"):
        assess(_trust(), np.array([[0.5, 0.3, 0.2]]), [])
    other = fit_domain(np.array([0.5]), np.array([0.0]), fingerprint=FingerprintSettings(3))
    with pytest.raises(ValueError, match="different fingerprints"):
        assess(_trust(domain=other), np.array([[0.5, 0.3, 0.2]]), ["CCO"])
