"""GINE backbone: a stack of PyG ``GINEConv`` layers, which read bond features in every message.

GINE (Hu et al. 2020, "Strategies for Pre-training Graph Neural Networks") is GIN (Xu et al.
2019) with edge features: with the atom features first embedded to the hidden width,

.. math::

    h_v^{(l+1)} = \\mathrm{ReLU}\\Big(\\mathrm{BN}\\big(\\mathrm{MLP}\\big((1 + \\epsilon) h_v^{(l)}
        + \\textstyle\\sum_{u \\in N(v)} \\mathrm{ReLU}(h_u^{(l)} + W_e e_{uv})\\big)\\big)\\Big)
        \\;(+\\, h_v^{(l)} \\text{ when residual})

with a two-layer MLP (Linear-BN-ReLU-Linear) per layer, ε learned, and a pooled readout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import GINEConv

from zincfluor.nn.readout import batch_index, check_pooling, graph_pool, num_graphs_of, pooled_dim
from zincfluor.settings import PlainSettings

__all__ = ["GINEConfig", "GINEBackbone"]


@dataclass(frozen=True)
class GINEConfig(PlainSettings):
    """Settings of :class:`GINEBackbone`; stored in checkpoints as a plain dict.

    ``dropout`` applies to the pooled graph vector (as in the GCN backbone).
    """

    settings_kind = "gine"

    in_dim: int
    edge_dim: int
    hidden_dim: int = 128
    num_layers: int = 5
    dropout: float = 0.1
    pooling: str = "mean"
    batch_norm: bool = True
    residual: bool = True
    train_eps: bool = True

    def __post_init__(self) -> None:
        check_pooling(self.pooling)
        if self.num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        if self.edge_dim < 1:
            raise ValueError("gine reads bond features: edge_dim must be at least 1")



def _norm(width: int, enabled: bool) -> nn.Module:
    return nn.BatchNorm1d(width) if enabled else nn.Identity()


class GINEBackbone(nn.Module):
    """Maps a PyG batch (``x``, ``edge_index``, ``edge_attr``, ``batch``) to one vector per
    graph."""

    def __init__(self, config: GINEConfig):
        super().__init__()
        self.config = config
        width = config.hidden_dim
        self.embed = nn.Linear(config.in_dim, width)
        self.convs = nn.ModuleList(
            GINEConv(
                nn.Sequential(
                    nn.Linear(width, width),
                    _norm(width, config.batch_norm),
                    nn.ReLU(),
                    nn.Linear(width, width),
                ),
                train_eps=config.train_eps,
                edge_dim=config.edge_dim,
            )
            for _ in range(config.num_layers)
        )
        self.norms = nn.ModuleList(
            _norm(width, config.batch_norm) for _ in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.out_dim = pooled_dim(width, config.pooling)

    def forward(self, data) -> torch.Tensor:
        edge_attr = getattr(data, "edge_attr", None)
        if edge_attr is None:
            raise ValueError(
                "gine reads bond features but the batch has no edge_attr; featurize with "
                "zincfluor.chem (graphs carry edge_attr)"
            )
        h = self.embed(data.x)
        edge_attr = edge_attr.to(h.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            update = torch.relu(norm(conv(h, data.edge_index, edge_attr)))
            h = h + update if self.config.residual else update
        pooled = graph_pool(h, batch_index(data), num_graphs_of(data), self.config.pooling)
        return self.dropout(pooled)
