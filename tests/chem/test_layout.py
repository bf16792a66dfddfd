from zincfluor.chem.config import FeaturizerConfig
from zincfluor.chem.layout import FeatureLayout


def test_blocks_tile_the_columns_without_gaps():
    layout = FeatureLayout.from_config(FeaturizerConfig())
    sides = ((layout.atom_blocks, layout.atom_dim), (layout.bond_blocks, layout.bond_dim))
    for blocks, dim in sides:
        position = 0
        for block in blocks:
            assert block.offset == position
            position += block.size
        assert position == dim


def test_block_order_and_labels():
    layout = FeatureLayout.from_config(FeaturizerConfig(elements=("C", "N"), max_degree=2))
    assert [b.name for b in layout.atom_blocks] == [
        "element",
        "degree",
        "formal_charge",
        "hybridisation",
        "aromatic",
        "in_ring",
        "num_hs",
        "chirality",
    ]
    assert [b.name for b in layout.bond_blocks] == ["bond_type", "conjugated", "in_ring", "stereo"]
    assert layout.atom_block("element").labels == ("C", "N", "other")
    assert layout.atom_block("degree").labels == ("0", "1", "2", ">2")
    assert layout.atom_block("formal_charge").labels == ("-2", "-1", "0", "+1", "+2", "other")
    assert layout.bond_block("stereo").labels == ("none", "any", "Z", "E", "cis", "trans", "other")


def test_every_one_hot_block_has_an_other_slot_and_flags_have_one_column():
    layout = FeatureLayout.from_config(FeaturizerConfig())
    for block in layout.atom_blocks + layout.bond_blocks:
        if block.one_hot:
            assert block.labels[-1] in ("other", f">{block.labels[-2]}")
        else:
            assert block.size == 1


def test_feature_names_name_every_column():
    layout = FeatureLayout.from_config(FeaturizerConfig())
    names = layout.atom_feature_names()
    assert len(names) == layout.atom_dim == len(set(names))
    assert names[:2] == ["element=C", "element=N"] and "aromatic" in names
    assert len(layout.bond_feature_names()) == layout.bond_dim
