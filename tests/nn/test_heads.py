"""The wavelength (Gaussian) and ordinal (CORN) heads against hand arithmetic."""

import math

import pytest
import torch
from torch import nn

from zincfluor.data.labels import EMISSION8
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.distribution import LogWavelength, gaussian_bin_log_masses, gaussian_nll
from zincfluor.nn.heads import GaussianHead, OrdinalHead, head_spec, ordinal_log_probs
from zincfluor.nn.model import Classifier


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _identity_gaussian(edges=(1.0, 2.0, 3.0), loc=0.0, scale=1.0) -> GaussianHead:
    """A head with μ = h_0 and log σ² = h_1, so tests choose μ and σ directly."""
    head = GaussianHead(2, len(edges) + 1, edges=list(edges), loc=loc, scale=scale)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(2))
        head.linear.bias.zero_()
    return head


def test_bin_masses_are_cdf_differences():
    edges = torch.tensor([-1.0, 0.0, 0.5])
    mean, std = 0.2, 0.8
    t = [(e - mean) / std for e in (-1.0, 0.0, 0.5)]
    expected = [_phi(t[0]), _phi(t[1]) - _phi(t[0]), _phi(t[2]) - _phi(t[1]), 1 - _phi(t[2])]
    got = gaussian_bin_log_masses(torch.tensor([mean]), torch.tensor([std]), edges).exp()
    torch.testing.assert_close(got[0], torch.tensor(expected))
    torch.testing.assert_close(got.sum(), torch.tensor(1.0))


def test_bin_masses_stay_finite_far_in_the_tails_in_float32():
    edges = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    mean = torch.tensor([30.0, -40.0, 0.3], requires_grad=True)
    std = torch.tensor([0.5, 1.0, 1e-3], requires_grad=True)
    log_p = gaussian_bin_log_masses(mean, std, edges)
    assert log_p.dtype == torch.float32 and torch.isfinite(log_p).all()
    # each row's mass sits in one bin: the last, the first, the third
    assert log_p.argmax(1).tolist() == [4, 0, 2]
    torch.testing.assert_close(log_p.exp().sum(1), torch.ones(3))
    # bin [0.5, 2] under N(30, 0.5²): log(Φ(−56) − Φ(−59)) ≈ log Φ(−56) ≈ −1572.9, where a
    # subtraction of float CDFs would give log 0 = −inf
    expected = float(torch.special.log_ndtr(torch.tensor(-56.0, dtype=torch.float64)))
    assert float(log_p[0, 3].detach()) == pytest.approx(expected, rel=1e-5)
    log_p.logsumexp(1).sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(std.grad).all()


def test_gaussian_nll_matches_the_formula():
    mean, log_var, y = torch.tensor([0.5]), torch.tensor([math.log(4.0)]), torch.tensor([1.5])
    expected = 0.5 * (math.log(4.0) + 1.0 / 4.0 + math.log(2 * math.pi))
    torch.testing.assert_close(gaussian_nll(mean, log_var, y), torch.tensor([expected]))


def test_gaussian_head_probabilities_rare_score_and_emission():
    edges = EMISSION8.edges
    loc, scale = math.log(500.0), 0.25
    head = _identity_gaussian(edges, loc, scale)
    mu, log_var = 0.6, math.log(0.09)  # σ = 0.3
    logits = head(torch.tensor([[mu, log_var]]))
    probs = torch.softmax(logits, dim=1)
    torch.testing.assert_close(probs, logits.exp())
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0))
    # rare score P(λ ≥ 625 nm) = 1 − Φ((t − μ)/σ) = mass of levels red and above (5, 6, 7)
    t = (math.log(625.0) - loc) / scale
    torch.testing.assert_close(probs[0, 5:].sum(), torch.tensor(1 - _phi((t - mu) / 0.3)))
    median, low, high = head.emission_nm(torch.tensor([[mu, log_var]]), coverage=0.8)
    z80 = 1.2815515655446004
    torch.testing.assert_close(median, torch.tensor([math.exp(loc + scale * mu)]))
    torch.testing.assert_close(low, torch.tensor([math.exp(loc + scale * (mu - z80 * 0.3))]))
    torch.testing.assert_close(high, torch.tensor([math.exp(loc + scale * (mu + z80 * 0.3))]))


def test_gaussian_head_refuses_wrong_edges():
    with pytest.raises(ValueError, match="7 bin edges"):
        GaussianHead(4, 8, edges=[400.0, 500.0])
    with pytest.raises(ValueError, match="increasing"):
        GaussianHead(4, 3, edges=[500.0, 400.0])


def test_log_wavelength_fit_and_round_trip():
    scale_map = LogWavelength.fit([400.0, 500.0, 600.0])
    logs = torch.tensor([400.0, 500.0, 600.0], dtype=torch.float64).log()
    assert scale_map.loc == pytest.approx(float(logs.mean()))
    assert scale_map.scale == pytest.approx(float(logs.std()))
    nm = torch.tensor([450.0, 720.0])
    torch.testing.assert_close(scale_map.to_nm(scale_map.to_z(nm)), nm)
    with pytest.raises(ValueError, match="positive nm"):
        LogWavelength.fit([0.0, 500.0])


def test_ordinal_log_probs_by_hand():
    f = [0.5, -1.0, 2.0]  # logits of P(y > k | y >= k), C = 4
    s = [1 / (1 + math.exp(-v)) for v in f]
    expected = [1 - s[0], s[0] * (1 - s[1]), s[0] * s[1] * (1 - s[2]), s[0] * s[1] * s[2]]
    got = ordinal_log_probs(torch.tensor([f])).exp()
    torch.testing.assert_close(got, torch.tensor([expected]))
    head = OrdinalHead(5, 4)
    probs = torch.softmax(head(torch.randn(6, 5)), dim=1)
    torch.testing.assert_close(probs.sum(1), torch.ones(6))
    assert head.conditional_logits(torch.randn(6, 5)).shape == (6, 3)


def test_head_spec_fits_the_scale_and_builds_a_classifier_with_emission():
    train_nm = torch.tensor([420.0, 510.0, 640.0, 700.0])
    spec = gcn_spec(7, 8, hidden_dim=8, num_layers=2, projection_dim=None,
                    head=head_spec("gaussian", 8, edges=EMISSION8.edges, train_nm=train_nm))
    assert spec["head"]["edges"] == list(EMISSION8.edges)
    assert spec["head"]["loc"] == pytest.approx(float(train_nm.log().mean()))
    model = build_classifier(spec)
    assert isinstance(model.head, GaussianHead)
    with pytest.raises(ValueError, match="value column"):
        head_spec("gaussian", 8, edges=None, train_nm=train_nm)
    with pytest.raises(ValueError, match="unknown head"):
        head_spec("softmax", 8)


class _Take(nn.Module):
    def forward(self, inputs):
        return inputs


def test_classifier_emission_nm_ignores_temperature_and_is_none_for_classifiers():
    head = _identity_gaussian()
    features = torch.tensor([[1.5, -0.5], [2.5, 0.2]])
    plain, tempered = Classifier(_Take(), head), Classifier(_Take(), head, temperature=2.0)
    for got, want in zip(tempered.emission_nm(features), plain.emission_nm(features),
                         strict=True):
        torch.testing.assert_close(got, want)
    mean, std = plain.distribution(features)
    torch.testing.assert_close(mean, features[:, 0])
    torch.testing.assert_close(std, torch.exp(0.5 * features[:, 1]))
    # the temperature tempers the level probabilities: softmax(log p / T) ∝ p^(1/T)
    p = plain(features).exp()
    expected = p.sqrt() / p.sqrt().sum(1, keepdim=True)
    torch.testing.assert_close(torch.softmax(tempered(features), 1), expected)
    linear = Classifier(_Take(), nn.Linear(2, 3))
    assert linear.emission_nm(features) is None and linear.distribution(features) is None


@pytest.mark.parametrize("head", ["gaussian", "ordinal"])
def test_fast_gcn_path_runs_the_new_heads(head):
    from torch_geometric.data import Batch, Data

    from zincfluor.screening.fastgcn import FastGCN, fast_forward

    spec = gcn_spec(7, 8, hidden_dim=8, num_layers=2, projection_dim=None,
                    head=head_spec(head, 8, edges=EMISSION8.edges,
                                   train_nm=torch.tensor([420.0, 530.0, 700.0])))
    torch.manual_seed(0)
    model = build_classifier(spec).eval()
    assert FastGCN.supports(model)  # the fast path calls model.head on its pooled features
    ring = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    batch = Batch.from_data_list([Data(x=torch.randn(3, 7), edge_index=ring),
                                  Data(x=torch.randn(2, 7), edge_index=ring[:, :2])])
    with torch.no_grad():
        torch.testing.assert_close(fast_forward(model)(batch), model(batch), atol=1e-5,
                                   rtol=1e-5)
