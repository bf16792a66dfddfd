"""Graph convolutional backbone: stacked GCNConv layers and a global pooling readout."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch_geometric.nn import GCNConv, global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.nn.conv.gcn_conv import gcn_norm

__all__ = ["GCNConfig", "GCNBackbone"]

POOLINGS = ("mean", "add", "max", "mean+max")


@dataclass(frozen=True)
class GCNConfig:
    """Settings of :class:`GCNBackbone`; stored in checkpoints as a plain dict.

    ``num_layers`` defaults to 6 as in the seed paper. Each layer is
    h' = relu(norm(Â h W)) (+ h when ``residual``), with Â = D^-1/2 (A + I) D^-1/2 the GCN
    propagation matrix (Kipf & Welling 2017); batch norm and residual connections keep six
    layers trainable without over-smoothing. Â is computed once per batch and shared by all
    layers. ``dropout`` applies to the pooled graph features (on CPU, dropout on every node
    layer cost a third of the training time). ``pooling`` "mean+max" concatenates both
    readouts (doubling ``out_dim``).
    """

    in_dim: int
    hidden_dim: int = 128
    num_layers: int = 6
    dropout: float = 0.1
    pooling: str = "mean"
    batch_norm: bool = True
    residual: bool = True

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.num_layers < 1:
            raise ValueError("num_layers must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


class GCNBackbone(nn.Module):
    """Maps a PyG batch (``x``, ``edge_index``, ``batch``) to one feature vector per graph."""

    def __init__(self, config: GCNConfig):
        super().__init__()
        self.config = config
        width = config.hidden_dim
        self.convs = nn.ModuleList(
            GCNConv(config.in_dim if i == 0 else width, width, normalize=False)
            for i in range(config.num_layers)
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(width) if config.batch_norm else nn.Identity()
            for _ in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.out_dim = width * (2 if config.pooling == "mean+max" else 1)

    def forward(self, data) -> torch.Tensor:
        h = data.x
        edge_index, edge_weight = gcn_norm(
            data.edge_index, None, h.size(0), add_self_loops=True, dtype=h.dtype
        )
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            update = torch.relu(norm(conv(h, edge_index, edge_weight)))
            h = h + update if self.config.residual and i > 0 else update
        return self.dropout(self._pool(h, data.batch, data.num_graphs))

    def _pool(self, h: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        pooling = self.config.pooling
        if pooling == "mean":
            return global_mean_pool(h, batch, num_graphs)
        if pooling == "add":
            return global_add_pool(h, batch, num_graphs)
        if pooling == "max":
            return global_max_pool(h, batch, num_graphs)
        return torch.cat(
            [global_mean_pool(h, batch, num_graphs), global_max_pool(h, batch, num_graphs)], dim=1
        )
