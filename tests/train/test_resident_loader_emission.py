"""ResidentGraphLoader carries each graph's emission maximum ``y_nm`` like PyG's collation."""

import torch
from torch_geometric.loader import DataLoader

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.train.resident_loader import ResidentGraphLoader


def test_y_nm_travels_with_its_graph():
    graphs = featurize_many(["CCO", "c1ccccc1O", "C", "OCCO", "CCCCN"], FeaturizerConfig()).graphs
    for i, graph in enumerate(graphs):
        graph.y = torch.tensor([i % 3])
        graph.y_nm = torch.tensor([400.0 + 10 * i])
    pyg = DataLoader(graphs, batch_size=2, shuffle=True,
                     generator=torch.Generator().manual_seed(3))
    resident = ResidentGraphLoader(graphs, 2, shuffle=True,
                                   generator=torch.Generator().manual_seed(3))
    for want, got in zip(pyg, resident, strict=True):
        assert torch.equal(got.y_nm, want.y_nm) and torch.equal(got.y, want.y)
        assert got.y_nm.dtype == torch.float32
