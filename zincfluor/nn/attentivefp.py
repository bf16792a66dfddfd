"""AttentiveFP backbone (Xiong et al. 2020, J. Med. Chem. 63, 8749): PyG's
``torch_geometric.nn.models.AttentiveFP`` as a zincfluor backbone.

AttentiveFP reads bond features in its first, edge-gated attention layer, refines atom states with
graph attention + GRU updates (``num_layers`` in all), and does its own readout: a virtual
super-node attends over the atoms for ``num_timesteps`` GRU steps. Its final linear map gives
the graph vector (``out_dim = hidden_dim``) that the classifier head reads, so no pooling setting.

PyG's edge-gated layer uses bond features only in the attention scores α_vw (a softmax over an
atom's neighbours); its messages W h_w do not see them, and an atom with one neighbour (α = 1)
never sees its bond at all. The wrapper therefore gives AttentiveFP the atom features joined
with the sum of the atom's bond features, x'_v = [x_v || Σ_{w∈N(v)} e_vw], so every bond type
reaches the atom states directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn.models import AttentiveFP
from torch_geometric.utils import scatter

from zincfluor.nn.readout import batch_index
from zincfluor.settings import PlainSettings

__all__ = ["AttentiveFPConfig", "AttentiveFPBackbone"]


@dataclass(frozen=True)
class AttentiveFPConfig(PlainSettings):
    """Settings of :class:`AttentiveFPBackbone`; stored in checkpoints as a plain dict.

    ``num_layers`` counts the atom-level attention layers (the first one reads bond features),
    ``num_timesteps`` the molecule-level readout steps; ``dropout`` is AttentiveFP's own.
    """

    settings_kind = "attentivefp"

    in_dim: int
    edge_dim: int
    hidden_dim: int = 128
    num_layers: int = 3
    num_timesteps: int = 2
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.num_timesteps < 1:
            raise ValueError("num_layers and num_timesteps must be at least 1")
        if self.edge_dim < 1:
            raise ValueError("attentivefp reads bond features: edge_dim must be at least 1")



class AttentiveFPBackbone(nn.Module):
    """Maps a PyG batch (``x``, ``edge_index``, ``edge_attr``, ``batch``) to one vector per
    graph with AttentiveFP's attention readout."""

    def __init__(self, config: AttentiveFPConfig):
        super().__init__()
        self.config = config
        self.net = AttentiveFP(
            in_channels=config.in_dim + config.edge_dim,
            hidden_channels=config.hidden_dim,
            out_channels=config.hidden_dim,
            edge_dim=config.edge_dim,
            num_layers=config.num_layers,
            num_timesteps=config.num_timesteps,
            dropout=config.dropout,
        )
        self.out_dim = config.hidden_dim

    def forward(self, data) -> torch.Tensor:
        edge_attr = getattr(data, "edge_attr", None)
        if edge_attr is None:
            raise ValueError(
                "attentivefp reads bond features but the batch has no edge_attr; featurize "
                "with zincfluor.chem (graphs carry edge_attr)"
            )
        x = data.x
        edge_attr = edge_attr.to(x.dtype)
        bonds = scatter(edge_attr, data.edge_index[0], dim=0, dim_size=x.size(0), reduce="sum")
        x = torch.cat([x, bonds], dim=1)
        return self.net(x, data.edge_index, edge_attr, batch_index(data))
