"""The two-view methods' named views and their reading switches, checked by hand."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.methods import MethodContext, build_method
from zincfluor.methods.bscl_sor import balanced_class_weights
from zincfluor.methods.rcl import CompactnessScaling
from zincfluor.methods.reb_supcon import bound_omega
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.views import AtomMask, LabelSafe, NoView

TWO_VIEW_METHODS = ["bcl", "bscl-sor", "rcl", "bcl-rcl", "reb-supcon"]


def _run_view(x):
    return x


def _context(counts=(6.0, 3.0, 1.0), augment=_run_view, epochs=4) -> MethodContext:
    return MethodContext(torch.as_tensor(counts, dtype=torch.float32), num_epochs=epochs,
                         augment=augment)


# ------------------------------------------------------------------ views


@pytest.mark.parametrize("name", TWO_VIEW_METHODS)
def test_the_default_is_the_runs_view_maker(name):
    method = build_method(name, _context())
    assert method.augment is _run_view
    assert method.hparams["view"] is None and method.hparams["view_rates"] is None


@pytest.mark.parametrize("name", TWO_VIEW_METHODS)
def test_a_named_view_replaces_the_runs_and_is_recorded_with_its_rates(name):
    method = build_method(name, _context(), view="atom_mask", view_rates={"mask_rate": 0.1})
    assert isinstance(method.augment, AtomMask) and method.augment.mask_rate == 0.1
    assert method.hparams["view"] == "atom_mask"
    assert method.hparams["view_rates"] == {"mask_rate": 0.1}
    defaults = build_method(name, _context(augment=None), view="label_safe")
    assert isinstance(defaults.augment, LabelSafe)
    assert defaults.hparams["view_rates"] == {"trim_rate": 0.2, "drop_rate": 0.2, "mask_rate": 0.2}


def test_rates_without_a_view_and_unknown_rates_are_refused():
    with pytest.raises(ValueError, match="need a named view"):
        build_method("bcl", _context(), view_rates={"mask_rate": 0.1})
    with pytest.raises(ValueError, match="takes drop_rate; got mask_rate"):
        build_method("rcl", _context(), view="bond_drop", view_rates={"mask_rate": 0.1})
    with pytest.raises(ValueError, match="needs a view maker"):
        build_method("bscl-sor", _context(augment=None))


def test_reb_supcon_without_a_run_view_uses_a_named_one():
    assert build_method("reb-supcon", _context(augment=None)).augment is None
    assert isinstance(build_method("reb-supcon", _context(augment=None), view="none").augment,
                      NoView)


DYES = [
    "CCN(CC)c1ccc2c(c1)oc1cc(=[N+](CC)CC)ccc-1c2-c1ccccc1C(=O)O",
    "CCN(CC)c1ccc2nc3c(cc(=O)c4ccccc43)oc2c1",
    "CCCCOC(=O)c1ccc(N(C)C)cc1",
    "Cc1cc(C)n2c1C=C1C(C)=CC(C)=[N+]1[B-]2(F)F",
]


@pytest.mark.parametrize("name", TWO_VIEW_METHODS)
def test_each_method_trains_a_gcn_step_through_a_named_view(name):
    graphs = featurize_many(DYES * 2, FeaturizerConfig()).graphs
    batch = Batch.from_data_list(graphs)
    targets = torch.tensor([0, 1, 2, 0, 0, 1, 2, 0])
    method = build_method(name, _context(augment=None), view="label_safe",
                          view_rates={"trim_rate": 0.5, "drop_rate": 0.5, "mask_rate": 0.5})
    torch.manual_seed(0)
    spec = method.adjust_model_spec(gcn_spec(batch.x.shape[1], 3, hidden_dim=16, num_layers=2))
    model = method.configure_model(build_classifier(spec))
    out = method.training_loss(model, batch, targets)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# ------------------------------------------------------------------ B-SCL weights


def test_bscl_weights_mean_one_over_classes_by_hand():
    # N = (3, 1), γ = 1: N^-1 = (1/3, 1), sum 4/3; w = 2 · (1/3, 1) / (4/3) = (0.5, 1.5)
    torch.testing.assert_close(balanced_class_weights(torch.tensor([3.0, 1.0])),
                               torch.tensor([0.5, 1.5]))


def test_bscl_weights_mean_one_over_samples_by_hand():
    # N = (3, 1), γ = 1: w = 4 · (1/3, 1) / (3 · 1/3 + 1 · 1) = (2/3, 2); (3·2/3 + 1·2)/4 = 1
    weights = balanced_class_weights(torch.tensor([3.0, 1.0]), norm="samples")
    torch.testing.assert_close(weights, torch.tensor([2 / 3, 2.0]))
    # γ = 0.5, N = (4, 1): N^-γ = (1/2, 1); w = 5 · (1/2, 1) / (4 · 1/2 + 1) = (5/6, 5/3)
    torch.testing.assert_close(
        balanced_class_weights(torch.tensor([4.0, 1.0]), 0.5, norm="samples"),
        torch.tensor([5 / 6, 5 / 3]),
    )
    # an empty class counts as one sample in its weight but adds no sample to the mean:
    # N = (3, 1, 0): w = 4 · (1/3, 1, 1) / 2 = (2/3, 2, 2); by classes (3/7, 9/7, 9/7)
    torch.testing.assert_close(
        balanced_class_weights(torch.tensor([3.0, 1.0, 0.0]), norm="samples"),
        torch.tensor([2 / 3, 2.0, 2.0]),
    )
    torch.testing.assert_close(balanced_class_weights(torch.tensor([3.0, 1.0, 0.0])),
                               torch.tensor([3 / 7, 9 / 7, 9 / 7]))


def test_bscl_sor_uses_the_chosen_normalisation():
    counts = torch.tensor([300.0, 30.0, 3.0])
    per_sample = build_method("bscl-sor", _context(counts), weight_norm="samples")
    per_class = build_method("bscl-sor", _context(counts))
    assert per_sample.hparams["weight_norm"] == "samples"
    assert (counts * per_sample.class_weights).sum() / counts.sum() == pytest.approx(1.0)
    assert per_class.class_weights.mean() == pytest.approx(1.0)
    # the same ratios between classes, only the scale differs
    torch.testing.assert_close(per_sample.class_weights / per_sample.class_weights[0],
                               per_class.class_weights / per_class.class_weights[0])
    with pytest.raises(ValueError, match="weight_norm must be one of"):
        build_method("bscl-sor", _context(), weight_norm="batch")


# ------------------------------------------------------------------ reb-supcon ω


def test_bound_omega_by_hand():
    omega = torch.tensor([1.0, 3.0, 245.0])
    torch.testing.assert_close(bound_omega(omega), omega)
    torch.testing.assert_close(bound_omega(omega, omega_max=10.0), torch.tensor([1.0, 3.0, 10.0]))
    # clip, then divide by the batch mean 14/3
    torch.testing.assert_close(bound_omega(omega, omega_max=10.0, normalise=True),
                               torch.tensor([3 / 14, 9 / 14, 30 / 14]))
    torch.testing.assert_close(bound_omega(omega, normalise=True),
                               torch.tensor([3 / 249, 9 / 249, 735 / 249]))


def _reb_step(**hparams):
    from torch import nn

    from zincfluor.nn.heads import LinearHead, ProjectionHead
    from zincfluor.nn.model import Classifier

    torch.manual_seed(0)
    model = Classifier(nn.Sequential(nn.Linear(4, 16), nn.ReLU()), LinearHead(16, 3),
                       ProjectionHead(16, 16, 8))
    method = build_method("reb-supcon", _context((995.0, 4.0, 1.0), augment=None),
                          projection_dim=8, **hparams)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    out = method.training_loss(model, x, y)
    return method, y, out


def test_reb_supcon_bounds_omega_in_its_loss():
    method, y, out = _reb_step()
    raw = method.omega()[y]
    assert raw.max() > 50  # f = 0.001 for the rarest class: ω = 1 + 0.05 ḡ / 0.001
    torch.testing.assert_close(out.parts["omega_mean"], raw.mean())
    method, y, out = _reb_step(omega_max=5.0)
    torch.testing.assert_close(out.parts["omega_mean"], method.omega()[y].clamp(max=5.0).mean())
    assert method.hparams["omega_max"] == 5.0
    _, _, out = _reb_step(omega_norm=True)
    torch.testing.assert_close(out.parts["omega_mean"], torch.tensor(1.0))
    with pytest.raises(ValueError, match="omega_max must be at least 1"):
        _reb_step(omega_max=0.5)


# ------------------------------------------------------------------ RCL compression side

# validation accuracies 0.8, 0.1, 0.2 (exactly the threshold) and no samples of class 3
CONFUSION = np.array([[8, 2, 0, 0], [9, 1, 0, 0], [1, 3, 1, 0], [0, 0, 0, 0]])


def test_rcl_compression_side_by_hand():
    above = CompactnessScaling(4, num_epochs=10, factor=0.005, threshold=0.2, side="above")
    below = CompactnessScaling(4, num_epochs=10, factor=0.005, threshold=0.2, side="below")
    above.update(CONFUSION)
    below.update(CONFUSION)
    assert above.compact.tolist() == [True, False, False, False]
    assert below.compact.tolist() == [False, True, False, False]
    labels = torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(below.scale(labels, epoch=5), torch.tensor([1.0, 0.005, 1.0, 1.0]))
    with pytest.raises(ValueError, match="compact_side must be one of"):
        CompactnessScaling(4, num_epochs=10, side="tail")


@pytest.mark.parametrize("name", ["rcl", "bcl-rcl"])
def test_rcl_methods_pass_the_side_on(name):
    method = build_method(name, _context((6.0, 3.0, 1.0, 1.0)), compact_side="below")
    method.on_validation_end(0, CONFUSION)
    assert method.rcl.scaling.compact.tolist() == [False, True, False, False]
    assert method.hparams["compact_side"] == "below"


# ------------------------------------------------------------------ through a training run


@pytest.mark.slow
def test_a_run_trains_with_a_named_view_and_records_it(monkeypatch, tmp_path, deep4chem_fixture):
    from method_training import train_one_epoch_and_reload

    hparams = {"view": "label_safe", "view_rates": {"mask_rate": 0.1}, "weight_norm": "samples"}
    result, checkpoint, trainer = train_one_epoch_and_reload(
        monkeypatch, deep4chem_fixture, tmp_path / "run", "bscl-sor", **hparams
    )
    assert isinstance(trainer.method.augment, LabelSafe)
    recorded = checkpoint["method"]["hparams"]
    assert recorded["view"] == "label_safe" and recorded["weight_norm"] == "samples"
    assert recorded["view_rates"] == {"trim_rate": 0.2, "drop_rate": 0.2, "mask_rate": 0.1}
    assert np.isfinite(result.fit.history[0]["train_loss"])
