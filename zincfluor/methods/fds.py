"""Feature distribution smoothing, FDS (Yang et al., "Delving into Deep Imbalanced Regression",
ICML 2021, Sec. 3.2), on the Gaussian head.

The training emission maxima are binned as for LDS (``bin_width`` nm). During each epoch the
method records the (uncalibrated) features h_i of every training molecule; at the epoch's end
(the Trainer's ``on_train_epoch_end``), from epoch ``start_update`` on, each bin b that received
samples updates its running feature statistics with momentum m::

    μ_b ← m μ_b + (1 − m) mean_{i ∈ b} h_i,     σ²_b ← m σ²_b + (1 − m) var_{i ∈ b} h_i

(the first update sets them; a bin's variance needs two samples, otherwise it keeps its value).
The statistics are then smoothed across bins with the LDS kernel k, over the bins seen so far
(s_b = 1 for a bin with statistics)::

    μ̃_b = Σ_{b'} k(b − b') s_{b'} μ_{b'} / Σ_{b'} k(b − b') s_{b'}      (σ̃²_b likewise)

From epoch ``start_smooth`` on, the features of a training sample in a seen bin are
re-calibrated (whitened with the bin's statistics, recoloured with the smoothed ones) before the
head::

    h̃_i = (h_i − μ_b) · clip(sqrt((σ̃²_b + ε) / (σ²_b + ε)), 0.1, 10) + μ̃_b

and the loss is the Gaussian NLL of the head on h̃ (optionally LDS-weighted: ``reweight``).
Evaluation and prediction use the raw features: FDS only changes training.
"""

from __future__ import annotations

import torch

from zincfluor.methods.base import METHODS, LossOutput, MethodContext
from zincfluor.methods.gaussian_nll import (
    WavelengthRegression,
    emission_targets,
    training_values,
)
from zincfluor.methods.lds import LDSWeights, gaussian_kernel, smooth_bins
from zincfluor.nn.distribution import gaussian_nll

__all__ = ["FeatureDistributionSmoothing"]

_EPS = 1e-5
_RATIO_CLIP = (0.1, 10.0)


@METHODS.register("fds")
class FeatureDistributionSmoothing(WavelengthRegression):
    """Gaussian NLL on FDS-recalibrated features (see the module docstring).

    Parameters
    ----------
    bin_width : bin width in nm
    kernel_size, sigma : the smoothing kernel, in bins
    momentum : m of the running statistics
    start_update : first (0-based) epoch whose features update the statistics
    start_smooth : first epoch whose training features are re-calibrated (> start_update)
    reweight : LDS weights on the loss as well ("sqrt_inv", "inverse") or none ("none")
    """

    summary = "FDS: feature statistics smoothed across wavelength bins (Yang et al. 2021)"

    def __init__(
        self, context: MethodContext, bin_width: float = 5.0, kernel_size: int = 5,
        sigma: float = 2.0, momentum: float = 0.9, start_update: int = 0,
        start_smooth: int = 1, reweight: str = "none",
    ):
        super().__init__(context)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if start_smooth <= start_update:
            raise ValueError(
                f"start_smooth ({start_smooth}) must come after start_update ({start_update}): "
                "features are re-calibrated with statistics of an earlier epoch"
            )
        values = training_values(context, "fds")
        self.lds = LDSWeights(values, bin_width, kernel_size, sigma, reweight)
        self.momentum = float(momentum)
        self.start_update = int(start_update)
        self.start_smooth = int(start_smooth)
        self.register_buffer("kernel", gaussian_kernel(kernel_size, sigma).float())
        self.register_buffer("bin_weights", self.lds.bin_weights.clone())
        for name in ("running_mean", "running_var", "smoothed_mean", "smoothed_var", "seen",
                     "epoch_sum", "epoch_sq_sum", "epoch_count"):
            self.register_buffer(name, None)
        self.save_hparams(
            bin_width=float(bin_width), kernel_size=int(kernel_size), sigma=float(sigma),
            momentum=self.momentum, start_update=self.start_update,
            start_smooth=self.start_smooth, reweight=reweight,
        )

    @property
    def num_bins(self) -> int:
        return self.lds.num_bins

    def _allocate(self, dim: int, device: torch.device) -> None:
        shape = (self.num_bins, dim)
        self.running_mean = torch.zeros(shape, device=device)
        self.running_var = torch.ones(shape, device=device)
        self.smoothed_mean = torch.zeros(shape, device=device)
        self.smoothed_var = torch.ones(shape, device=device)
        self.seen = torch.zeros(self.num_bins, dtype=torch.bool, device=device)
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self.epoch_sum = torch.zeros_like(self.running_mean)
        self.epoch_sq_sum = torch.zeros_like(self.running_mean)
        self.epoch_count = torch.zeros(self.num_bins, device=self.running_mean.device)

    def record(self, features: torch.Tensor, bins: torch.Tensor) -> None:
        """Add a batch's features (detached, float32) to the epoch's per-bin sums."""
        if self.epoch < self.start_update:
            return
        features = features.detach().float()
        if self.running_mean is None or self.running_mean.shape[1] != features.shape[1]:
            self._allocate(features.shape[1], features.device)
        self.epoch_sum.index_add_(0, bins, features)
        self.epoch_sq_sum.index_add_(0, bins, features * features)
        self.epoch_count.index_add_(0, bins, torch.ones_like(bins, dtype=torch.float32))

    def calibrate(self, features: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        """h̃ = (h − μ_b)·clip(sqrt((σ̃²_b + ε)/(σ²_b + ε)), 0.1, 10) + μ̃_b in seen bins."""
        if self.running_mean is None:
            return features
        ratio = torch.sqrt((self.smoothed_var[bins] + _EPS) / (self.running_var[bins] + _EPS))
        recoloured = (
            (features - self.running_mean[bins]) * ratio.clamp(*_RATIO_CLIP)
            + self.smoothed_mean[bins]
        )
        return torch.where(self.seen[bins][:, None], recoloured, features)

    def on_train_epoch_end(self, epoch: int) -> None:
        if epoch < self.start_update or self.epoch_count is None:
            return
        counts = self.epoch_count
        has = counts > 0
        mean = self.epoch_sum / counts.clamp(min=1)[:, None]
        has_var = counts > 1
        var = (self.epoch_sq_sum - counts[:, None] * mean**2) / (counts - 1).clamp(min=1)[:, None]
        var = var.clamp(min=0)
        first = has & ~self.seen
        again = has & self.seen
        m = self.momentum
        self.running_mean[first] = mean[first]
        self.running_mean[again] = m * self.running_mean[again] + (1 - m) * mean[again]
        var_first, var_again = first & has_var, again & has_var
        self.running_var[var_first] = var[var_first]
        self.running_var[var_again] = m * self.running_var[var_again] + (1 - m) * var[var_again]
        self.seen |= has
        weight = smooth_bins(self.seen.float(), self.kernel)  # [bins]
        seen = self.seen.float()[:, None]
        for stat, out in ((self.running_mean, self.smoothed_mean),
                          (self.running_var, self.smoothed_var)):
            smoothed = smooth_bins((stat * seen).t().contiguous(), self.kernel).t()
            out.copy_(torch.where(weight[:, None] > 0, smoothed / weight.clamp(min=1e-12)[:, None],
                                  stat))
        self._reset_epoch()

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        features = model.features(inputs)
        nm = emission_targets(inputs, "method 'fds'")
        bins = self.lds.bins(nm).to(features.device)
        self.record(features, bins)
        if self.epoch >= self.start_smooth:
            features = self.calibrate(features, bins)
        mean, log_var, y = self.gaussian_outputs(model, features, inputs)
        nll = gaussian_nll(mean, log_var, y)
        loss = (self.bin_weights[bins] * nll).mean()
        return LossOutput(loss, {"nll": nll.detach().mean()})
