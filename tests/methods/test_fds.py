"""FDS: running per-bin feature statistics, their smoothing and the feature re-calibration,
against hand arithmetic; and the Trainer's end-of-epoch hook that drives them."""

import math

import torch
from regression_models import batch, gaussian_model, nll

from zincfluor.methods import METHODS, MethodContext, build_method
from zincfluor.methods.cross_entropy import CrossEntropy
from zincfluor.train.trainer import Trainer, TrainerConfig

# 5 nm bins from 400: 400 -> 0, 404 -> 0, 410 -> 2 (3 bins); kernel 5 bins, sigma 1
TRAIN_NM = [400.0, 404.0, 410.0]
K2 = math.exp(-2.0)  # kernel weight two bins away, relative to the centre


def _method(**hparams):
    context = MethodContext(class_counts=torch.ones(3), num_epochs=3,
                            target_values=torch.tensor(TRAIN_NM))
    return build_method("fds", context, kernel_size=5, sigma=1.0, **hparams)


def test_fds_statistics_smoothing_and_calibration_by_hand():
    assert "fds" in METHODS
    method, model = _method(momentum=0.9), gaussian_model()
    mean, log_var = [1.0, 3.0, 2.0], [0.0, 0.5, -1.0]  # features h = (μ, log σ²)
    # epoch 0: no calibration yet, plain NLL; the features are recorded
    method.on_epoch_start(0)
    out = method.training_loss(model, batch(mean, log_var, TRAIN_NM), None)
    expected = sum(nll(m, v, y) for m, v, y in zip(mean, log_var, TRAIN_NM, strict=True)) / 3
    torch.testing.assert_close(out.loss, torch.tensor(expected))
    method.on_train_epoch_end(0)
    # bin 0: h = (1, 0), (3, 0.5): mean (2, 0.25), unbiased var (2, 0.125); bin 2: one sample,
    # mean (2, -1), var keeps its start value 1; bin 1 never seen
    mu0, var0 = torch.tensor([2.0, 0.25]), torch.tensor([2.0, 0.125])
    mu2, var2 = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(method.running_mean[0], mu0)
    torch.testing.assert_close(method.running_var[0], var0)
    torch.testing.assert_close(method.running_mean[2], mu2)
    torch.testing.assert_close(method.running_var[2], var2)
    assert method.seen.tolist() == [True, False, True]
    # smoothing over seen bins: bin 0 mixes itself (weight 1) and bin 2 (weight e^-2)
    smooth_mu0 = (mu0 + K2 * mu2) / (1 + K2)
    smooth_var0 = (var0 + K2 * var2) / (1 + K2)
    torch.testing.assert_close(method.smoothed_mean[0], smooth_mu0)
    torch.testing.assert_close(method.smoothed_var[0], smooth_var0)
    # epoch 1: a bin-0 sample is whitened with bin 0's statistics, recoloured with the smoothed
    method.on_epoch_start(1)
    h = torch.tensor([1.0, 0.0])
    ratio = torch.sqrt((smooth_var0 + 1e-5) / (var0 + 1e-5)).clamp(0.1, 10)
    calibrated = (h - mu0) * ratio + smooth_mu0
    out = method.training_loss(model, batch([1.0], [0.0], [401.0]), None)
    expected = nll(float(calibrated[0]), float(calibrated[1]), 401.0)
    torch.testing.assert_close(out.loss, torch.tensor(expected))
    method.on_train_epoch_end(1)
    # momentum update of bin 0 with the epoch's one sample (its variance needs two: unchanged)
    torch.testing.assert_close(method.running_mean[0], 0.9 * mu0 + 0.1 * h)
    torch.testing.assert_close(method.running_var[0], var0)


def test_unseen_bins_keep_their_features():
    method = _method()
    method.on_epoch_start(0)
    method.training_loss(gaussian_model(), batch([1.0], [0.0], [400.0]), None)
    method.on_train_epoch_end(0)
    features = torch.tensor([[5.0, 1.0]])
    bins = torch.tensor([1])  # never seen
    torch.testing.assert_close(method.calibrate(features, bins), features)


class _Recording(CrossEntropy):
    def __init__(self, context):
        super().__init__(context)
        self.calls = []

    def on_epoch_start(self, epoch):
        super().on_epoch_start(epoch)
        self.calls.append(("start", epoch))

    def on_train_epoch_end(self, epoch):
        self.calls.append(("train_end", epoch))

    def on_validation_end(self, epoch, confusion):
        self.calls.append(("validation_end", epoch))


def test_trainer_calls_the_epoch_end_hook_after_training_before_validation():
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    method = _Recording(MethodContext(class_counts=torch.tensor([4.0, 4.0]), num_epochs=2))
    trainer = Trainer(torch.nn.Linear(3, 2), method, TrainerConfig(epochs=2), progress=False)
    trainer.fit(loader, loader)
    assert method.calls == [
        ("start", 0), ("train_end", 0), ("validation_end", 0),
        ("start", 1), ("train_end", 1), ("validation_end", 1),
    ]
