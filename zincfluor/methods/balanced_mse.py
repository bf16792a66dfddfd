"""Balanced MSE, batch-based Monte-Carlo form BMC (Ren et al., "Balanced MSE for Imbalanced
Visual Regression", CVPR 2022, Sec. 3.2, eq. 5 and Algorithm 1), on the Gaussian head.

With the head's mean μ_i as the point prediction and y_j the batch's targets, both in the head's
standardised log-wavelength, and the noise scale σ_n::

    L_bmc = −(1/|B|) Σ_i log softmax_j( −(μ_i − y_j)² / (2 σ_n²) )_{j = i} · sg(2 σ_n²)

(sg: stop-gradient). The other targets of the batch act as a Monte-Carlo estimate of the
training label distribution, so the loss undoes its imbalance; the factor 2σ_n², held constant,
keeps the gradient on the scale of the MSE. σ_n is learnt by default (``learn_noise``, started
at ``init_noise_sigma``, optimised with the model as in the paper's code; it is a parameter of
the method, so it is not saved with the model) or fixed.

BMC trains only the mean. So that the head's σ (and its level probabilities) means something,
the Gaussian NLL of the targets under N(sg(μ_i), σ_i²) is added with weight ``variance_weight``:
it fits σ_i to the residuals and leaves the mean to BMC::

    L = L_bmc + variance_weight · (1/|B|) Σ_i ½ [log σ_i² + (y_i − sg(μ_i))² / σ_i² + log 2π]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zincfluor.methods.base import METHODS, LossOutput, MethodContext
from zincfluor.methods.gaussian_nll import WavelengthRegression
from zincfluor.nn.distribution import gaussian_nll

__all__ = ["BalancedMSE", "bmc_loss"]


def bmc_loss(pred: torch.Tensor, target: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """−mean_i log softmax_j(−(pred_i − target_j)²/(2 σ²))_{i} · sg(2σ²); ``noise_var`` is σ²."""
    logits = -((pred[:, None] - target[None, :]) ** 2) / (2 * noise_var)
    labels = torch.arange(pred.shape[0], device=pred.device)
    return F.cross_entropy(logits, labels) * (2 * noise_var).detach()


@METHODS.register("balanced-mse")
class BalancedMSE(WavelengthRegression):
    """BMC on the head's mean plus a variance-fitting NLL (see the module docstring)."""

    summary = "Balanced MSE, BMC form, on the emission maximum (Ren et al. 2022)"

    def __init__(
        self, context: MethodContext, init_noise_sigma: float = 1.0, learn_noise: bool = True,
        variance_weight: float = 1.0,
    ):
        super().__init__(context)
        if not init_noise_sigma > 0:
            raise ValueError(f"init_noise_sigma must be positive, got {init_noise_sigma}")
        if variance_weight < 0:
            raise ValueError(f"variance_weight must be at least 0, got {variance_weight}")
        log_sigma = torch.tensor(math.log(init_noise_sigma))
        if learn_noise:
            self.log_noise_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_noise_sigma", log_sigma)
        self.variance_weight = float(variance_weight)
        self.save_hparams(
            init_noise_sigma=float(init_noise_sigma), learn_noise=bool(learn_noise),
            variance_weight=self.variance_weight,
        )

    @property
    def noise_var(self) -> torch.Tensor:
        """σ_n² = exp(2 log σ_n) (positive whatever the optimiser does)."""
        return torch.exp(2 * self.log_noise_sigma)

    def training_loss(self, model, inputs, targets: torch.Tensor) -> LossOutput:
        mean, log_var, y = self.gaussian_outputs(model, model.features(inputs), inputs)
        bmc = bmc_loss(mean, y, self.noise_var.float())
        variance = gaussian_nll(mean.detach(), log_var, y).mean()
        loss = bmc + self.variance_weight * variance
        return LossOutput(loss, {
            "bmc": bmc.detach(), "variance_nll": variance.detach(),
            "noise_sigma": self.log_noise_sigma.detach().exp(),
        })
