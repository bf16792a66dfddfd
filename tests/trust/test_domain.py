"""The domain threshold rule on synthetic error curves."""

import numpy as np
import pytest

from zincfluor.trust.domain import DomainCalibration, error_by_similarity, fit_domain


def test_bins_have_equal_counts_and_their_mean_errors():
    similarity = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2])
    errors = np.array([0, 1, 0, 1, 0, 1])
    rows = error_by_similarity(similarity, errors, n_bins=3)
    assert [(r["low"], r["high"], r["n"], r["error"]) for r in rows] == [
        (0.1, 0.2, 2, 1.0), (0.3, 0.5, 2, 0.5), (0.7, 0.9, 2, 0.0)]


def test_threshold_is_where_the_smoothed_error_leaves_the_limit():
    rng = np.random.default_rng(0)
    similarity = rng.uniform(0.0, 1.0, size=20000)
    # error rate 0.8 below similarity 0.4, 0.1 above it
    errors = (rng.uniform(size=similarity.size) < np.where(similarity < 0.4, 0.8, 0.1))
    domain = fit_domain(similarity, errors.astype(float), factor=1.5)
    assert domain.threshold == pytest.approx(0.4, abs=0.02)
    inside = domain.in_domain(similarity)
    assert errors[inside].mean() < 0.15 and errors[~inside].mean() > 0.7
    assert domain.bins[0]["error"] > domain.bins[-1]["error"]


def test_flat_error_puts_every_validation_molecule_in_the_domain():
    similarity = np.linspace(0.2, 1.0, 50)
    domain = fit_domain(similarity, np.full(50, 0.3))
    assert domain.threshold == pytest.approx(0.2)
    assert not domain.in_domain(np.array([0.1, np.nan])).any()


def test_round_trip_and_bad_input():
    domain = fit_domain(np.array([0.2, 0.5, 0.9]), np.array([1.0, 0.0, 0.0]), n_bins=2)
    again = DomainCalibration.from_dict(domain.to_dict())
    assert again == domain
    with pytest.raises(ValueError, match="one of each"):
        fit_domain(np.array([0.2, 0.5]), np.array([1.0]))
    with pytest.raises(ValueError, match="factor"):
        fit_domain(np.array([0.2]), np.array([1.0]), factor=0.5)


def test_the_domain_plot_is_a_png(tmp_path):
    from zincfluor.trust.plots import plot_error_by_similarity

    domain = fit_domain(np.linspace(0.1, 1.0, 40), np.r_[np.ones(10), np.zeros(30)], n_bins=4)
    path = plot_error_by_similarity(domain, tmp_path / "card" / "domain.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
