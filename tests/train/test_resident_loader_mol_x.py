"""ResidentGraphLoader carries each graph's molecule features ``mol_x`` like PyG's collation."""

import torch
from torch_geometric.loader import DataLoader

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.train.resident_loader import ResidentGraphLoader


def test_mol_x_travels_with_its_graph():
    graphs = featurize_many(["CCO", "c1ccccc1O", "C", "OCCO", "CCCCN"], FeaturizerConfig()).graphs
    for i, graph in enumerate(graphs):
        graph.y = torch.tensor([i % 3])
        graph.mol_x = torch.full((1, 4), float(i))
    pyg = DataLoader(graphs, batch_size=2, shuffle=True,
                     generator=torch.Generator().manual_seed(5))
    resident = ResidentGraphLoader(graphs, 2, shuffle=True,
                                   generator=torch.Generator().manual_seed(5))
    for want, got in zip(pyg, resident, strict=True):
        assert got.mol_x.shape == (got.num_graphs, 4)
        assert torch.equal(got.mol_x, want.mol_x) and torch.equal(got.y, want.y)
