"""Graph readouts shared by the backbones, and the molecule-feature readout wrapper.

* :func:`graph_pool` turns node states into one vector per graph (mean, add, max or both).
* :class:`MoleculeFeatureReadout` wraps any backbone and joins molecule-level features (Morgan
  counts, RDKit descriptors: ``zincfluor.chem.molecule_features``) to its pooled graph vector:
  ``f = [backbone(G) || clamp((m - μ) / σ, -c, c)]``, where ``m`` is the graph's ``mol_x`` row
  and μ, σ were fitted on the training split. μ and σ live in the model spec (as plain lists),
  so a saved model rebuilds and scales exactly as it was trained; a missing value (NaN, e.g. a
  descriptor RDKit could not compute) becomes the training mean (0 after scaling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from zincfluor.settings import settings_from_dict

__all__ = [
    "POOLINGS",
    "batch_index",
    "check_pooling",
    "graph_pool",
    "num_graphs_of",
    "pooled_dim",
    "MoleculeFeatureReadoutConfig",
    "MoleculeFeatureReadout",
]

POOLINGS = ("mean", "add", "max", "mean+max")


def check_pooling(pooling: str) -> None:
    """Raise a clear error for a pooling name that :func:`graph_pool` does not know."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def pooled_dim(width: int, pooling: str) -> int:
    """Width of :func:`graph_pool`'s output for node states of ``width`` columns."""
    return width * (2 if pooling == "mean+max" else 1)


def graph_pool(h: torch.Tensor, batch: torch.Tensor, num_graphs: int, pooling: str) -> torch.Tensor:
    """[num_graphs, width] (twice the width for "mean+max") readout of node states ``h``."""
    if pooling == "mean":
        return global_mean_pool(h, batch, num_graphs)
    if pooling == "add":
        return global_add_pool(h, batch, num_graphs)
    if pooling == "max":
        return global_max_pool(h, batch, num_graphs)
    if pooling == "mean+max":
        return torch.cat(
            [global_mean_pool(h, batch, num_graphs), global_max_pool(h, batch, num_graphs)], dim=1
        )
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def batch_index(data) -> torch.Tensor:
    """The graph of each node; all zeros for a single ``Data`` without ``batch``."""
    index = getattr(data, "batch", None)
    if index is None:
        return torch.zeros(data.x.size(0), dtype=torch.long, device=data.x.device)
    return index


def num_graphs_of(data) -> int:
    return int(data.num_graphs) if getattr(data, "batch", None) is not None else 1


@dataclass(frozen=True)
class MoleculeFeatureReadoutConfig:
    """Size and training-split scaling of the molecule features joined at the readout.

    Parameters
    ----------
    dim : columns of ``mol_x``
    mean, scale : per-column μ and σ (σ > 0); columns that need no scaling have μ=0, σ=1
    clip : scaled values are clamped to [-clip, clip] (a descriptor far outside the training
        range cannot dominate the head)
    """

    dim: int
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    clip: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "scale", tuple(float(v) for v in self.scale))
        if self.dim < 1 or len(self.mean) != self.dim or len(self.scale) != self.dim:
            raise ValueError(
                f"molecule features: dim={self.dim} needs {self.dim} means and scales, got "
                f"{len(self.mean)} and {len(self.scale)}"
            )
        if not all(s > 0 for s in self.scale) or not self.clip > 0:
            raise ValueError("molecule features: every scale and the clip must be positive")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["mean"], out["scale"] = list(self.mean), list(self.scale)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> MoleculeFeatureReadoutConfig:
        return settings_from_dict(cls, data, "molecule-feature readout")

    @classmethod
    def fitted(
        cls, mean: Sequence[float], scale: Sequence[float], clip: float = 10.0
    ) -> MoleculeFeatureReadoutConfig:
        return cls(len(mean), tuple(mean), tuple(scale), clip)


class MoleculeFeatureReadout(nn.Module):
    """``backbone(data)`` with the scaled ``data.mol_x`` [num_graphs, dim] appended."""

    def __init__(self, backbone: nn.Module, config: MoleculeFeatureReadoutConfig):
        super().__init__()
        self.backbone = backbone
        self.config = config
        # Not in the state dict: the spec is their one home.
        self.register_buffer("mean", torch.tensor(config.mean), persistent=False)
        self.register_buffer("scale", torch.tensor(config.scale), persistent=False)
        self.out_dim = backbone.out_dim + config.dim

    def scaled(self, mol_x: torch.Tensor) -> torch.Tensor:
        """clamp((m - μ) / σ, -clip, clip), NaN -> 0 (the training mean)."""
        clip = self.config.clip
        z = (mol_x.to(self.mean.dtype) - self.mean) / self.scale
        return torch.nan_to_num(z, nan=0.0, posinf=clip, neginf=-clip).clamp(-clip, clip)

    def forward(self, data) -> torch.Tensor:
        mol_x = getattr(data, "mol_x", None)
        if mol_x is None:
            raise ValueError(
                "this model reads molecule features, but the batch has no mol_x; compute them "
                "with zincfluor.chem.molecule_features using the checkpoint's "
                "molecule_features settings"
            )
        if mol_x.dim() != 2 or mol_x.size(1) != self.config.dim:
            raise ValueError(
                f"mol_x has shape {tuple(mol_x.shape)}; this model expects [num_graphs, "
                f"{self.config.dim}] (molecule features of the checkpoint's settings)"
            )
        pooled = self.backbone(data)
        return torch.cat([pooled, self.scaled(mol_x).to(pooled.dtype)], dim=1)
