"""Graph views keep per-graph fields (y, y_nm, mol_x) whole, whatever the batch's sizes."""

import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.nn.graph_augment import GraphAugment


def test_a_batch_with_as_many_graphs_as_edges_keeps_its_graph_fields():
    """Methane (no bond) and ethane (one bond, two edges): 2 graphs, 2 edges, so PyG's size
    test alone would take y and mol_x for edge attributes and drop them with the bond."""
    graphs = featurize_many(["C", "CC"], FeaturizerConfig()).graphs
    for i, graph in enumerate(graphs):
        graph.y = torch.tensor([i])
        graph.y_nm = torch.tensor([400.0 + i])
        graph.mol_x = torch.full((1, 3), float(i))
    batch = Batch.from_data_list(graphs)
    assert batch.num_graphs == batch.num_edges == 2
    view = GraphAugment(edge_drop=1.0, feature_mask=0.0)(batch)
    assert view.edge_index.shape == (2, 0) and view.edge_attr.shape == (0, batch.edge_attr.size(1))
    assert torch.equal(view.y, batch.y) and torch.equal(view.y_nm, batch.y_nm)
    assert torch.equal(view.mol_x, batch.mol_x)
