"""Label-preserving molecular views: on real dyes, the π system survives every draw."""

import pytest
import torch
from torch_geometric.data import Batch

from zincfluor.chem import FeaturizerConfig, featurize_many
from zincfluor.chem.layout import FeatureLayout
from zincfluor.nn import build_classifier, gcn_spec
from zincfluor.nn.views import (
    VIEWS,
    AtomMask,
    ChromophoreColumns,
    NoView,
    build_view,
    default_layout,
    droppable_bonds,
    pi_system_atoms,
    trimmable_atoms,
)

DYES = {
    "coumarin 153": "O=C1C=C(C(F)(F)F)c2cc3CCCN4CCCc(c34)c2O1",
    "rhodamine B": "CCN(CC)c1ccc2c(c1)oc1cc(=[N+](CC)CC)ccc-1c2-c1ccccc1C(=O)O",
    "Nile red": "CCN(CC)c1ccc2nc3c(cc(=O)c4ccccc43)oc2c1",
    "BODIPY (PM546)": "Cc1cc(C)n2c1C=C1C(C)=CC(C)=[N+]1[B-]2(F)F",
    "butyl 4-(dimethylamino)benzoate": "CCCCOC(=O)c1ccc(N(C)C)cc1",
    "4-(diethylamino)-4'-nitrostilbene": "CCN(CC)c1ccc(/C=C/c2ccc([N+](=O)[O-])cc2)cc1",
}
COLUMNS = ChromophoreColumns.from_layout(default_layout())
LAYOUT = default_layout()
PROTECTED = [
    c for name in ("element", "formal_charge", "aromatic", "in_ring")
    for c in range(LAYOUT.atom_block(name).offset,
                   LAYOUT.atom_block(name).offset + LAYOUT.atom_block(name).size)
]  # the atom columns no view may change on a π atom
LABEL_PRESERVING = [name for name in VIEWS if name != "legacy"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Boolean indexing of these small tensors is ~1000x slower with two threads on a busy
    two-core machine; one thread keeps the many draws below quick."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _graphs(smiles):
    result = featurize_many(list(smiles), FeaturizerConfig())
    assert not result.errors
    return result.graphs


def _dye_batch(copies: int = 1) -> Batch:
    return Batch.from_data_list(_graphs(DYES.values()) * copies)


def _pi_part(batch):
    """The π atoms' protected columns, full rows and graph ids, and the bonds among them
    (renumbered by the π atoms' order; keys u * n + v and attributes, sorted by key)."""
    pi = pi_system_atoms(batch, COLUMNS)
    n = int(pi.sum())
    index = torch.full((batch.x.size(0),), -1, dtype=torch.long)
    index[pi] = torch.arange(n)
    source, target = batch.edge_index
    among = pi[source] & pi[target]
    keys = index[source[among]] * n + index[target[among]]
    keys, order = torch.sort(keys)
    attr = batch.edge_attr[among][order]
    return batch.x[pi][:, PROTECTED], batch.x[pi], batch.batch[pi], keys, attr


def _keeps_pi_system(batch, view) -> bool:
    before, after = _pi_part(batch), _pi_part(view)
    return all(
        b.shape == a.shape and torch.equal(b, a)
        for i, (b, a) in enumerate(zip(before, after, strict=True)) if i != 1
    )


def test_every_dye_has_a_pi_system_and_something_to_perturb():
    batch = _dye_batch()
    pi = pi_system_atoms(batch, COLUMNS)
    assert all(pi[batch.batch == g].any() for g in range(batch.num_graphs))
    # rhodamine B: 4 ethyl C-C bonds droppable and 4 terminal methyls trimmable; the CF3 of
    # coumarin 153 and the methyls on the BODIPY core are neither
    per_graph_bonds = torch.zeros(batch.num_graphs).index_add_(
        0, batch.batch[batch.edge_index[0]], droppable_bonds(batch, COLUMNS).float()) / 2
    per_graph_atoms = torch.zeros(batch.num_graphs).index_add_(
        0, batch.batch, trimmable_atoms(batch, COLUMNS).float())
    assert per_graph_bonds.tolist() == [0, 4, 2, 0, 3, 2]
    assert per_graph_atoms.tolist() == [0, 4, 2, 0, 1, 2]


@pytest.mark.parametrize("name", LABEL_PRESERVING)
@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_views_never_touch_the_pi_system_of_real_dyes(name, rate):
    batch = _dye_batch(copies=4)
    rates = {key: rate for key in VIEWS[name].rate_names}
    view = build_view(name, **rates)
    for seed in range(20):
        torch.manual_seed(seed)
        assert _keeps_pi_system(batch, view(batch)), (name, seed)


@pytest.mark.parametrize("name", ["bond_drop", "side_chain"])
def test_structural_views_keep_the_pi_atoms_whole_rows(name):
    batch = _dye_batch(copies=4)
    view = build_view(name, **{VIEWS[name].rate_names[0]: 1.0})
    torch.manual_seed(0)
    assert torch.equal(_pi_part(batch)[1], _pi_part(view(batch))[1])


def test_the_legacy_view_breaks_the_pi_system_so_the_check_can_fail():
    batch = _dye_batch(copies=4)
    torch.manual_seed(0)
    assert not _keeps_pi_system(batch, build_view("legacy")(batch))


def test_none_is_the_identity():
    batch = _dye_batch()
    view = build_view("none")
    assert isinstance(view, NoView) and view(batch) is batch and view.params() == {}


@pytest.mark.parametrize("name", LABEL_PRESERVING[1:])
def test_zero_rates_give_an_identical_view(name):
    batch = _dye_batch()
    torch.manual_seed(0)
    view = build_view(name, **{key: 0.0 for key in VIEWS[name].rate_names})(batch)
    assert torch.equal(view.x, batch.x) and torch.equal(view.edge_index, batch.edge_index)


def test_atom_mask_rate_is_per_atom_and_spares_the_protected_columns():
    batch = _dye_batch(copies=60)
    torch.manual_seed(1)
    view = build_view("atom_mask", mask_rate=0.3)(batch)
    start, size = COLUMNS.degree
    hit = view.x[:, start:start + size].sum(1) == 0  # a one-hot block: empty only when masked
    assert hit.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(view.x[:, PROTECTED], batch.x[:, PROTECTED])
    assert torch.equal(view.x[~hit], batch.x[~hit])
    assert torch.all(view.x[hit][:, list(COLUMNS.maskable)] == 0)
    # per atom, not per molecule and column: molecules have hit and unhit carbons side by side
    carbons = batch.x[:, COLUMNS.carbon] > 0
    in_graph = [carbons & (batch.batch == g) for g in range(batch.num_graphs)]
    graphs_with_both = [g for g in in_graph if (hit & g).any() and (~hit & g).any()]
    assert len(graphs_with_both) > batch.num_graphs // 2
    assert torch.equal(view.edge_attr, batch.edge_attr)


def test_bond_drop_rate_and_only_droppable_bonds():
    batch = _dye_batch(copies=100)
    droppable = droppable_bonds(batch, COLUMNS)
    torch.manual_seed(2)
    view = build_view("bond_drop", drop_rate=0.3)(batch)
    kept = {tuple(e) for e in view.edge_index.t().tolist()}
    edges = [tuple(e) for e in batch.edge_index.t().tolist()]
    lost = torch.tensor([edge not in kept for edge in edges])
    assert not lost[~droppable].any()
    assert lost[droppable].float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert all((v, u) in kept for u, v in kept)
    assert torch.equal(view.x, batch.x)


def test_side_chain_rate_and_only_trimmable_atoms():
    batch = _dye_batch(copies=100)
    trimmable = trimmable_atoms(batch, COLUMNS)
    torch.manual_seed(3)
    view = build_view("side_chain", trim_rate=0.3)(batch)
    removed = batch.x.size(0) - view.x.size(0)
    assert removed / int(trimmable.sum()) == pytest.approx(0.3, abs=0.04)
    assert torch.equal(view.ptr, torch.cat([torch.zeros(1, dtype=torch.long),
                                            torch.bincount(view.batch).cumsum(0)]))
    # exactly the trimmable atoms the view's one draw per atom picked are gone; the others stay
    # in order, whole apart from a trimmed carbon's parent's degree and H count
    torch.manual_seed(3)
    picked = trimmable & (torch.rand(batch.x.size(0)) < 0.3)
    assert int(picked.sum()) == removed
    fixed = set(range(*_span("degree"))) | set(range(*_span("num_hs")))
    rest = [c for c in range(batch.x.size(1)) if c not in fixed]
    assert torch.equal(view.x[:, rest], batch.x[~picked][:, rest])
    assert torch.equal(view.batch, batch.batch[~picked])


def _span(name: str) -> tuple[int, int]:
    block = LAYOUT.atom_block(name)
    return block.offset, block.offset + block.size


def _canonical(graph) -> tuple:
    """A graph up to atom order: the sorted rows and the sorted (row, row, bond) triples."""
    rows = [tuple(r) for r in graph.x.tolist()]
    edges = sorted(
        (rows[u], rows[v], tuple(a))
        for (u, v), a in zip(graph.edge_index.t().tolist(), graph.edge_attr.tolist(), strict=True)
    )
    return sorted(rows), edges


@pytest.mark.parametrize(
    ("dye", "homologue"),
    [
        ("CCN(CC)c1ccc2c(c1)oc1cc(=[N+](CC)CC)ccc-1c2-c1ccccc1C(=O)O",  # rhodamine B
         "CN(C)c1ccc2c(c1)oc1cc(=[N+](C)C)ccc-1c2-c1ccccc1C(=O)O"),  # tetramethylrhodamine
        ("CCCCOC(=O)c1ccc(N(C)C)cc1", "CCCOC(=O)c1ccc(N(C)C)cc1"),  # butyl -> propyl ester
        ("CC(C)COC(=O)c1ccccc1", "CCOC(=O)c1ccccc1"),  # isobutyl loses both methyls: ethyl
    ],
)
def test_side_chain_trim_gives_the_lower_homologue(dye, homologue):
    graph, expected = _graphs([dye, homologue])
    torch.manual_seed(0)
    view = build_view("side_chain", trim_rate=1.0)(Batch.from_data_list([graph]))
    assert _canonical(view.to_data_list()[0]) == _canonical(expected)


def test_label_safe_composes_the_three():
    batch = _dye_batch(copies=50)
    torch.manual_seed(4)
    view = build_view("label_safe", trim_rate=1.0, drop_rate=0.0, mask_rate=1.0)(batch)
    assert view.x.size(0) == batch.x.size(0) - int(trimmable_atoms(batch, COLUMNS).sum())
    start, size = COLUMNS.degree
    assert torch.all(view.x[:, start:start + size] == 0)
    assert build_view("label_safe").params() == {
        "trim_rate": 0.2, "drop_rate": 0.2, "mask_rate": 0.2}


@pytest.mark.parametrize("name", list(VIEWS)[1:])
def test_same_seed_same_view_different_seed_different_view(name):
    batch = _dye_batch(copies=20)
    view = build_view(name, **{key: 0.5 for key in VIEWS[name].rate_names})
    outputs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        outputs.append(view(batch))
    first, again, other = outputs
    assert torch.equal(first.x, again.x) and torch.equal(first.edge_index, again.edge_index)
    assert not (first.x.shape == other.x.shape and torch.equal(first.x, other.x)
                and torch.equal(first.edge_index, other.edge_index))


@pytest.mark.parametrize("name", list(VIEWS))
def test_the_input_batch_is_not_modified_and_splits_back(name):
    batch = _dye_batch(copies=3)
    before = {key: value.clone() for key, value in batch if torch.is_tensor(value)}
    slices = {key: value.clone() for key, value in batch._slice_dict.items()}
    torch.manual_seed(0)
    view = build_view(name, **{key: 0.7 for key in VIEWS[name].rate_names})(batch)
    for key, value in before.items():
        assert torch.equal(batch[key], value), key
    for key, value in slices.items():
        assert torch.equal(batch._slice_dict[key], value), key
    graphs = view.to_data_list()
    assert len(graphs) == batch.num_graphs
    assert sum(g.num_nodes for g in graphs) == view.x.size(0)
    for graph in graphs:
        assert graph.edge_attr.shape[0] == graph.edge_index.shape[1]
        assert graph.edge_index.numel() == 0 or graph.edge_index.max() < graph.num_nodes


def test_views_of_a_resident_style_batch_feed_the_gcn():
    """Batches built as the resident loader builds them (no _slice_dict) work too."""
    full = _dye_batch(copies=2)
    batch = Batch(x=full.x, edge_index=full.edge_index, edge_attr=full.edge_attr,
                  batch=full.batch, ptr=full.ptr, y=torch.arange(full.num_graphs))
    batch._num_graphs = full.num_graphs
    model = build_classifier(gcn_spec(full.x.shape[1], 4, hidden_dim=8, num_layers=2)).eval()
    for name in VIEWS:
        torch.manual_seed(0)
        view = build_view(name, **{key: 0.5 for key in VIEWS[name].rate_names})(batch)
        assert view.num_graphs == full.num_graphs and torch.equal(view.y, batch.y)
        assert model(view).shape == (full.num_graphs, 4)


def test_bad_input_is_refused_with_one_clear_line():
    with pytest.raises(KeyError, match="unknown view 'crop'"):
        build_view("crop")
    with pytest.raises(ValueError, match="takes mask_rate; got drop_rate"):
        build_view("atom_mask", drop_rate=0.1)
    with pytest.raises(ValueError, match="mask_rate must lie in"):
        AtomMask(mask_rate=1.5)
    batch = Batch.from_data_list(_graphs(["CCO"]))
    build_view("bond_drop")(batch)  # the default layout: fine
    other = FeatureLayout.from_config(FeaturizerConfig(elements=("C", "N")))
    with pytest.raises(ValueError, match="zincfluor feature layout"):
        build_view("bond_drop", layout=other)(batch)
