"""Classifier and projection heads that sit on top of a backbone's pooled features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LinearHead", "CosineHead", "ProjectionHead", "HEADS"]


class LinearHead(nn.Linear):
    """Plain linear classifier: logits = W h + b."""

    def __init__(self, in_dim: int, num_classes: int):
        super().__init__(in_dim, num_classes)


class CosineHead(nn.Module):
    """Normalised linear classifier: logits_c = s * cos(h, w_c) (used by LDAM and KPS).

    ``scale`` is s; the weights have no bias.
    """

    def __init__(self, in_dim: int, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_dim))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.scale = scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).t()


class ProjectionHead(nn.Module):
    """Two-layer MLP projection z = W2 relu(W1 h) for contrastive losses (not normalised here)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


HEADS: dict[str, type[nn.Module]] = {"linear": LinearHead, "cosine": CosineHead}
