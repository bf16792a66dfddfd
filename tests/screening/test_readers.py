"""The input readers: every format, compression, column choice, bad records kept, clear errors,
and SDF records standardised from their own structure."""

import gzip
import io
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from zincfluor.chem import FeaturizerConfig
from zincfluor.chem.smiles import InvalidMoleculeError, parse_mol
from zincfluor.chem.standardize import standardize_input, standardize_smiles
from zincfluor.screening import inputs as inputs_module
from zincfluor.screening.inputs import open_molecule_inputs, read_molecule_inputs
from zincfluor.screening.predictor import Predictor, prepare_molecules

CONFIG = FeaturizerConfig()


def _records(source, **options):
    with open_molecule_inputs(source, **options) as opened:
        return opened, list(opened)


def _drawn(smiles: str, name: str, three_d: bool = False, **properties) -> Chem.Mol:
    mol = Chem.MolFromSmiles(smiles)
    if three_d:
        mol = Chem.AddHs(mol)
        assert AllChem.EmbedMolecule(mol, randomSeed=7) == 0
    else:
        AllChem.Compute2DCoords(mol)
    mol.SetProp("_Name", name)
    for key, value in properties.items():
        mol.SetProp(key, value)
    return mol


def _sdf_text(mols) -> str:
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    for mol in mols:
        writer.write(mol)
    writer.close()
    return buffer.getvalue()


BROKEN_VALENCE = Chem.MolFromSmiles("CN(C)(C)(C)C", sanitize=False)  # five bonds to N
UNREADABLE = "no structure here\n  junk\n\n  x\nM  END\n> <mw>\n1\n\n$$$$\n"


@pytest.fixture
def sdf_gz(tmp_path):
    """A gzipped SDF: titles, properties (one only in a later record, one named ID), a record
    RDKit cannot sanitise and one it cannot read, then blank lines after the last record."""
    BROKEN_VALENCE.SetProp("_Name", "pentavalent")
    BROKEN_VALENCE.SetProp("mw", "87")
    good = _sdf_text([
        _drawn("C[C@H](N)C(=O)O", "L-alanine", mw="89.1", source="vendor A"),
        _drawn("C/C=C/Cl", "E-chloropropene", mw="76.5", ID="X-2"),
        BROKEN_VALENCE,
    ])
    later = _sdf_text([_drawn("c1ccccc1O", "phenol", three_d=True, mw="94.1", cas="108-95-2")])
    path = tmp_path / "dyes.sdf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(good + UNREADABLE + later + "\n\n")
    return path


def test_gzip_sdf_keeps_titles_properties_and_bad_records_by_number(sdf_gz):
    opened, records = _records(sdf_gz)
    assert opened.format == "sdf"
    assert opened.columns == ["smiles", "id", "mw", "source", "sd_ID", "cas"]
    assert (opened.smiles_column, opened.id_column) == (None, "id")
    assert [r.row for r in records] == [1, 2, 3, 4, 5]  # no record for the trailing blank lines
    assert [r.id for r in records] == ["L-alanine", "E-chloropropene", "pentavalent",
                                       "no structure here", "phenol"]  # title line kept
    assert records[0].values == (records[0].smiles, "L-alanine", "89.1", "vendor A", "", "")
    assert records[1].values[4] == "X-2"
    assert records[4].values == (records[4].smiles, "phenol", "94.1", "", "", "108-95-2")
    assert records[4].smiles == "Oc1ccccc1"  # explicit hydrogens of the 3D record removed
    broken, unreadable = records[2], records[3]
    assert broken.mol is None and broken.values[1:3] == ("pentavalent", "87")
    assert broken.smiles == "CN(C)(C)(C)C"  # what RDKit read, to find the record by
    assert broken.problem == ("SDF record 3: explicit valence for atom # 1 N, 5, is greater "
                              "than permitted")
    assert unreadable.mol is None and unreadable.smiles == ""
    assert unreadable.problem.startswith("SDF record 4: RDKit cannot read its molfile block")
    assert all(r.problem is None and r.mol is not None for r in (records[0], records[1],
                                                                 records[4]))


def test_sdf_text_that_is_not_utf8_is_read_with_replacement_characters(tmp_path):
    text = _sdf_text([_drawn("CCO", "caf\u00e9", note="\u00e9t\u00e9"), _drawn("CCN", "b")])
    path = tmp_path / "latin.sdf"
    path.write_bytes(text.encode("latin-1"))
    _, records = _records(path)
    assert [r.id for r in records] == ["caf\ufffd", "b"]
    assert records[0].values[2] == "\ufffdt\ufffd" and records[0].smiles == "CCO"


def test_a_file_without_sdf_record_ends_is_refused_not_buffered(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs_module, "_MAX_SDF_RECORD_BYTES", 100)
    path = tmp_path / "smiles.sdf"
    path.write_text("CCO ethanol\n" * 50)
    assert "without its '$$$$' end line; is it an SDF?" in _one_line_error(path)


def test_sdf_property_scan_limit_sets_the_columns(sdf_gz, monkeypatch):
    monkeypatch.setattr(inputs_module, "SDF_PROPERTY_SCAN", 2)
    opened, records = _records(sdf_gz)
    assert opened.columns == ["smiles", "id", "mw", "source", "sd_ID"]  # cas first seen later
    assert [len(r.values) for r in records] == [5] * 5
    assert records[4].values[2] == "94.1"


def test_sdf_id_from_a_property_and_smiles_column_refused(sdf_gz):
    opened, records = _records(sdf_gz, id_column="SOURCE")
    assert opened.id_column == "source" and records[0].id == "vendor A" and records[1].id is None
    with pytest.raises(ValueError, match="structures come from its molfile blocks"):
        open_molecule_inputs(sdf_gz, smiles_column="mw")


@pytest.mark.parametrize("three_d", [False, True])
def test_an_sdf_record_standardises_like_its_smiles_and_keeps_its_drawn_stereo(tmp_path, three_d):
    forms = ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "C/C=C/c1ccccc1", "C/C=C\\c1ccccc1",
             "CC[NH+](CC)c1ccc2ccc(=O)oc2c1.[Cl-]",
             # cations whose resonance form (an InChI round trip) moves double bonds: the
             # coordinates must not give a new double bond stereo, nor lose the drawn one
             "Cc1ccc(C2=C3C=CC(Nc4ccccc4)=[N+]3[B-](F)(F)n3c(Nc4ccccc4)ccc32)cc1",
             "CCC(CC)c1ccc2cc3c([o+]c2c1)/C(=C/Cc1ccccc1)CCC3"]
    path = tmp_path / "stereo.sdf"
    path.write_text(_sdf_text([_drawn(s, f"m{k}", three_d) for k, s in enumerate(forms)]))
    _, records = _records(path)
    for smiles, record in zip(forms, records, strict=True):
        from_record = standardize_input(record.mol, CONFIG)
        from_smiles = standardize_smiles(smiles, CONFIG)
        assert from_record.smiles == from_smiles.smiles
        assert from_record.notes == from_smiles.notes
    stereo = [standardize_input(r.mol, CONFIG).smiles for r in records[:4]]
    assert len(set(stereo)) == 4  # each enantiomer and each double-bond isomer as drawn


def test_parse_mol_copies_sanitises_and_applies_the_limits():
    drawn = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    parsed = parse_mol(drawn)
    assert drawn.GetNumAtoms() == 13 and parsed.GetNumAtoms() == 6  # input left as it was
    assert Chem.MolToSmiles(parsed) == "C[C@H](N)C(=O)O"
    with pytest.raises(InvalidMoleculeError, match="explicit valence"):
        parse_mol(BROKEN_VALENCE)
    with pytest.raises(InvalidMoleculeError, match="more than the limit of 3"):
        parse_mol(Chem.MolFromSmiles("CCCC"), max_heavy_atoms=3)
    with pytest.raises(InvalidMoleculeError, match="no heavy atoms"):
        parse_mol(Chem.MolFromSmiles("[H][H]", sanitize=False))


def test_prepare_molecules_takes_molecules_beside_smiles():
    mols = [Chem.MolFromSmiles("c1ccccc1C(=O)O"), BROKEN_VALENCE]
    prepared = prepare_molecules(["CCO", mols[0], mols[1], "C1CC"], CONFIG)
    assert prepared.canonical == ["CCO", "O=C(O)c1ccccc1"]
    assert prepared.positions.tolist() == [0, 1]
    assert [p for p, _ in prepared.failures] == [2, 3]
    assert "explicit valence" in prepared.failures[0][1]


def test_predictor_predicts_an_sdf_molecule_as_its_smiles(tmp_path):
    from zincfluor.data import EMISSION8
    from zincfluor.nn import build_classifier, gcn_spec
    from zincfluor.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    spec = gcn_spec(CONFIG.atom_dim, 8, hidden_dim=16, num_layers=2)
    path = save_checkpoint(
        tmp_path / "checkpoint.pt", model=build_classifier(spec).eval(), model_spec=spec,
        class_counts=[5, 9, 8, 7, 4, 3, 2, 1], method={"name": "ce", "hparams": {}},
        metadata={"kind": "molecules", "featurizer": CONFIG.to_dict(),
                  "label_scheme": EMISSION8.to_dict()},
    )
    predictor = Predictor.load(path, device="cpu")
    smiles = "CN(C)c1ccc(/C=C/c2ccccc2)cc1"
    result = predictor.predict([smiles, _drawn(smiles, "stilbene")])
    assert result.status == ["ok", "ok"] and result.canonical[0] == result.canonical[1]
    assert result.smiles == [smiles, Chem.MolToSmiles(Chem.MolFromSmiles(smiles))]
    np.testing.assert_allclose(result.probs[0], result.probs[1], rtol=1e-6)


def test_semicolon_csv_with_bom_and_quoted_semicolons(tmp_path):
    path = tmp_path / "dyes.csv"
    path.write_bytes('\ufeffName;SMILES;"note; free text";mw\n'
                     '"dye;1";CCO;"a;b";46,07\n'
                     'dye2;"c1ccccc1";;78,11\n'.encode())
    opened, records = _records(path)
    assert opened.format == "csv"
    assert opened.columns == ["Name", "SMILES", "note; free text", "mw"]
    assert (opened.smiles_column, opened.id_column) == ("SMILES", "Name")
    assert [(r.row, r.smiles, r.id) for r in records] == [(1, "CCO", "dye;1"),
                                                          (2, "c1ccccc1", "dye2")]
    assert records[0].values == ("dye;1", "CCO", "a;b", "46,07")
    assert records[1].values == ("dye2", "c1ccccc1", "", "78,11")


def test_tab_files_with_and_without_suffix(tmp_path):
    tsv = tmp_path / "lib.tsv"
    tsv.write_text("id\tsmiles\tnote, with comma\nm1\tCCO\tx\n")
    opened, records = _records(tsv)
    assert opened.columns == ["id", "smiles", "note, with comma"]
    assert records[0].values == ("m1", "CCO", "x") and records[0].id == "m1"
    bare = tmp_path / "library"  # no suffix: told by content
    bare.write_text("id\tsmiles\nm1\tCCO\n")
    assert _records(bare)[0].format == "csv"
    headerless = tmp_path / "pairs"
    headerless.write_text("CCO\tethanol\nCCN\tethylamine\n")
    opened, records = _records(headerless)
    assert opened.format == "smi" and [r.id for r in records] == ["ethanol", "ethylamine"]


def test_smi_gz_file_and_gzipped_standard_input(tmp_path, monkeypatch):
    data = gzip.compress(b"smiles name\nCCO ethanol\n\nc1ccccc1 benzene ring\n")
    path = tmp_path / "lib.smi.gz"
    path.write_bytes(data)
    opened, records = _records(path)
    expected = [(1, "CCO", "ethanol"), (2, "", None), (3, "c1ccccc1", "benzene ring")]
    assert opened.columns == ["smiles", "id"]
    assert [(r.row, r.smiles, r.id) for r in records] == expected
    assert records[2].values == ("c1ccccc1", "benzene ring")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    opened, records = _records("-")
    assert opened.name == "standard input" and opened.format == "smi"
    assert [(r.row, r.smiles, r.id) for r in records] == expected


def test_gzipped_csv_on_standard_input_is_told_by_content(monkeypatch):
    data = gzip.compress(b"ID;smiles\nm1;CCO\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    opened, records = _records("-")
    assert opened.format == "csv" and records[0].values == ("m1", "CCO")


def test_a_gz_name_without_a_known_format_is_told_by_content(tmp_path, sdf_gz):
    renamed = tmp_path / "library.2024.gz"
    renamed.write_bytes(sdf_gz.read_bytes())
    assert _records(renamed)[0].format == "sdf"


def test_parquet_streams_batches_in_order(tmp_path, monkeypatch):
    table = pa.table({"Compound": ["a", "b", None, "d", "e"],
                      "Smiles": ["CCO", "CCN", "CCC", None, "c1ccccc1"],
                      "mw": [46.07, 45.08, float("nan"), 1.0, 78.11],
                      "n": [1, 2, 3, 4, 5]})
    path = tmp_path / "lib.parquet"
    pq.write_table(table, path, row_group_size=2)
    monkeypatch.setattr(inputs_module, "PARQUET_BATCH_ROWS", 2)
    opened, records = _records(path, id_column="compound")
    assert opened.format == "parquet" and opened.columns == ["Compound", "Smiles", "mw", "n"]
    assert (opened.smiles_column, opened.id_column) == ("Smiles", "Compound")
    assert [r.row for r in records] == [1, 2, 3, 4, 5]
    assert [r.smiles for r in records] == ["CCO", "CCN", "CCC", "", "c1ccccc1"]
    assert [r.id for r in records] == ["a", "b", None, "d", "e"]
    assert records[2].values == ("", "CCC", "", "3")  # missing and NaN as empty text
    gz = tmp_path / "lib.parquet.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.values for r in _records(gz, id_column="compound")[1]] == [r.values
                                                                         for r in records]


def test_column_choice_ignores_case_and_whitespace(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Compound,Smiles ,Identifier\nc1,CCO,A-1\nc2,CCN,\n")
    opened, records = _records(path, smiles_column="SMILES", id_column=" compound")
    assert (opened.smiles_column, opened.id_column) == ("Smiles ", "Compound")
    assert [(r.smiles, r.id) for r in records] == [("CCO", "c1"), ("CCN", "c2")]
    detected = _records(path)[1]
    assert [r.id for r in detected] == ["A-1", None]  # by name; an empty id is no id
    assert [r.id for r in _records(path, detect_id=False)[1]] == [None, None]
    assert [r.id for r in read_molecule_inputs(path)] == [None, None]  # the old default


def test_values_stay_aligned_with_the_columns(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("smiles,id,mw\nCCO,e,46\nCCN\nCCC,p,44,,\nCCCC,b,58,extra\n\n")
    opened, records = _records(path)
    assert [r.values for r in records] == [("CCO", "e", "46"), ("CCN", "", ""),
                                           ("CCC", "p", "44"), ("CCCC", "b", "58"),
                                           ("", "", "")]
    assert [r.problem is None for r in records] == [True, True, True, False, True]
    assert "4 fields, the header 3" in records[3].problem


def _one_line_error(source, **options) -> str:
    with pytest.raises(ValueError) as caught, open_molecule_inputs(source, **options) as inputs:
        list(inputs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_errors_name_the_input_and_the_fix(tmp_path):
    csv_path = tmp_path / "dyes.csv"
    csv_path.write_text("smiles,name,mw\nCCO,e,46\n")
    assert _one_line_error(csv_path, smiles_column="Smile") == (
        f"{csv_path}: column 'Smile' not in the input; columns are smiles, name, mw "
        "(name one of them with --smiles-column)")
    assert "id column 'code' not in the input" in _one_line_error(csv_path, id_column="code")
    assert _one_line_error(tmp_path) == (
        f"{tmp_path}: is a directory; give one input file (.smi, .smiles, .txt, .csv, .tsv, "
        ".tab, .sdf, .sd, .parquet, .pq, optionally .gz)")
    assert "does not exist" in _one_line_error(tmp_path / "nope.smi")
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04")
    assert "unknown input format '.xlsx'" in _one_line_error(tmp_path / "book.xlsx")
    (tmp_path / "empty.smi").write_text("")
    assert "holds no molecules" in _one_line_error(tmp_path / "empty.smi")
    (tmp_path / "latin.csv").write_bytes("smiles,name\nCCO,caf\xe9\n".encode("latin-1"))
    assert "not UTF-8 text" in _one_line_error(tmp_path / "latin.csv")
    (tmp_path / "cut.smi.gz").write_bytes(gzip.compress(b"CCO a\n" * 100)[:-12])
    assert "gzip data is corrupt or cut short" in _one_line_error(tmp_path / "cut.smi.gz")
    (tmp_path / "fake.parquet").write_bytes(b"smiles\nCCO\n")
    assert "not a readable Parquet file" in _one_line_error(tmp_path / "fake.parquet")
    (tmp_path / "nums.csv").write_text("a,b\n1,2\n")
    assert "no SMILES column found; columns are a, b" in _one_line_error(tmp_path / "nums.csv")
    (tmp_path / "twice.csv").write_text("ID,id,smiles\n1,2,C\n")
    assert "matches several columns" in _one_line_error(tmp_path / "twice.csv", id_column="Id")
    named = _one_line_error(tmp_path / "nums.csv", name="upload.csv")
    assert named.startswith("upload.csv: ")


def test_standard_input_errors_leave_it_open(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,b\n1,2\n")))
    assert _one_line_error("-").startswith("standard input: no SMILES column found")
    assert not sys.stdin.buffer.closed
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert _one_line_error("-") == "standard input: the input is empty; it holds no molecules"
