"""Graph convolutional backbone: stacked GCNConv layers and a global pooling readout."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch_geometric.nn import GCNConv, global_add_pool, global_max_pool, global_mean_pool

__all__ = ["GCNConfig", "GCNBackbone", "gcn_propagation"]

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


def gcn_propagation(
    edge_index: torch.Tensor, num_nodes: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges and weights of Â = D^-1/2 (A + I) D^-1/2, without a device synchronisation.

    The values of PyG's ``gcn_norm(edge_index, None, num_nodes, add_self_loops=True)``: every
    node gets one self loop of weight 1 and d_i = 1 + #{edges into i}; an edge j→i weighs
    d_i^-1/2 · d_j^-1/2. ``gcn_norm`` removes existing self loops with a boolean mask, which
    waits for the device; here an existing self loop keeps its place with weight 0 instead (it
    adds exactly 0 to every sum), so the result is the same and the GPU never waits. Molecular
    graphs have no self loops, and then the edges and weights equal ``gcn_norm``'s exactly.
    """
    loops = torch.arange(num_nodes, device=edge_index.device)
    source = torch.cat([edge_index[0], loops])
    target = torch.cat([edge_index[1], loops])
    weight = torch.cat([
        (edge_index[0] != edge_index[1]).to(dtype),
        torch.ones(num_nodes, dtype=dtype, device=edge_index.device),
    ])
    degree = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device)
    degree.scatter_add_(0, target, weight)
    inv_sqrt = degree.pow(-0.5)  # every degree is >= 1 (the self loop)
    return torch.stack([source, target]), inv_sqrt[source] * weight * inv_sqrt[target]


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
        edge_index, edge_weight = gcn_propagation(data.edge_index, h.size(0), h.dtype)
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
