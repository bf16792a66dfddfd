"""The service writes the one prediction record (issue 15): uploads in every reader format keep
every input column, in order, in the JSON pages (``input``) and the CSV download (first); the
fields and numbers are those of ``zincfluor predict``/``screen``; migration 0004."""

import csv
import datetime as dt
import gzip
import io

import pytest
from sqlalchemy import text

SDF_RECORD = """{name}
     RDKit          2D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.2990    0.7500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    2.5981   -0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
>  <supplier>
{supplier}

>  <status>
{status}

$$$$
"""
# a carbon with five bonds: RDKit cannot sanitise it, so the reader reports the record
_ATOM = "    {x}.0000    0.0000    0.0000 {element}   0  0  0  0  0  0  0  0  0  0  0  0\n"
BROKEN_SDF_RECORD = (
    "broken\n     RDKit          2D\n\n  6  5  0  0  0  0  0  0  0  0999 V2000\n"
    + "".join(_ATOM.format(x=i, element="C" if i == 0 else "F") for i in range(6))
    + "".join(f"  1  {i}  1  0\n" for i in range(2, 7))
    + "M  END\n>  <supplier>\nnobody\n\n$$$$\n"
)


def _upload(service, key, name, content: bytes, **form):
    response = service.client.post("/v1/screens", files={"file": (name, content)}, data=form,
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _pages(service, key, screen_id, order="input"):
    response = service.client.get(f"/v1/screens/{screen_id}/results",
                                  params={"order": order, "limit": 1000},
                                  headers=service.auth(key))
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _csv(service, key, screen_id):
    response = service.client.get(f"/v1/screens/{screen_id}/results.csv",
                                  headers=service.auth(key))
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))


def _fields(service, *, ranked=True):
    names = service.served.level_names
    return ["row", *(["rank"] if ranked else []), "status", "reason", "notes",
            "canonical_smiles", "level", "level_index", "rare_score",
            *[f"p_{name}" for name in names], "inchikey"]


def test_a_semicolon_csv_with_a_bom_keeps_every_column_in_order(service):
    key = service.new_key()
    content = ('\ufeffCompound;Smiles;"Note; quoted";status\n'
               'A-1;CCO;"a; b";kept\n'
               'A-2;C1CC;"";x\n'
               'A-3;CCN;"line";\n').encode()
    screen_id = _upload(service, key, "library.csv", content, smiles_column="SMILES",
                        id_column="compound")  # any case
    service.drain()
    screen = service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()
    assert screen["input_columns"] == ["Compound", "Smiles", "Note; quoted", "status"]
    assert (screen["smiles_column"], screen["id_column"]) == ("Smiles", "Compound")

    rows = _pages(service, key, screen_id)
    assert [r["input"] for r in rows] == [
        {"Compound": "A-1", "Smiles": "CCO", "Note; quoted": "a; b", "status": "kept"},
        {"Compound": "A-2", "Smiles": "C1CC", "Note; quoted": "", "status": "x"},
        {"Compound": "A-3", "Smiles": "CCN", "Note; quoted": "line", "status": ""}]
    assert [(r["row"], r["status"]) for r in rows] == [(1, "ok"), (2, "invalid"), (3, "ok")]
    assert list(rows[0]) == ["input", *_fields(service)]

    table = _csv(service, key, screen_id)
    # the input's columns first, unchanged; the one named like a field becomes input_status
    assert table[0] == ["Compound", "Smiles", "Note; quoted", "input_status", *_fields(service)]
    assert [line[:4] for line in table[1:]] == [["A-1", "CCO", "a; b", "kept"],
                                               ["A-2", "C1CC", "", "x"], ["A-3", "CCN", "line", ""]]
    assert [line[4:7] for line in table[1:]] == [
        [str(r["row"]), str(r["rank"] or ""), r["status"]] for r in rows]
    assert sorted(r["rank"] for r in rows if r["rank"]) == [1, 2]


def test_a_gzipped_sdf_keeps_names_and_properties_and_its_bad_record(service):
    key = service.new_key()
    records = (SDF_RECORD.format(name="ethanol", supplier="acme", status="in stock")
               + BROKEN_SDF_RECORD
               + SDF_RECORD.format(name="again", supplier="", status="sold out"))
    screen_id = _upload(service, key, "dyes.sdf.gz", gzip.compress(records.encode()))
    service.drain()
    screen = service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()
    assert screen["status"] == "done" and screen["counts"]["total"] == 3
    assert screen["input_columns"][:2] == ["smiles", "id"]
    assert set(screen["input_columns"][2:]) == {"supplier", "status"}
    rows = _pages(service, key, screen_id)
    assert [r["input"]["id"] for r in rows] == ["ethanol", "broken", "again"]
    assert rows[0]["input"]["supplier"] == "acme" and rows[2]["input"]["status"] == "sold out"
    assert rows[0]["status"] == "ok" and rows[0]["canonical_smiles"] == "CCO"
    assert rows[1]["status"] == "invalid" and rows[1]["reason"]  # kept, in its place
    assert rows[2]["inchikey"] == rows[0]["inchikey"]
    header = _csv(service, key, screen_id)[0]
    assert "input_status" in header and header.index("row") == len(screen["input_columns"])


def test_parquet_and_gzipped_smiles_and_tsv_uploads(service):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    key = service.new_key()
    buffer = io.BytesIO()
    pq.write_table(pa.table({"name": ["p1", "p2"], "SMILES": ["CCO", "CCCl"],
                             "mw": [46.07, 64.51]}), buffer)
    by_format = {
        "library.parquet": buffer.getvalue(),
        "library.smi.gz": gzip.compress(b"CCO first\nCCCl second\n"),
        "library.tsv": b"smiles\tid\tbatch\nCCO\tt1\tb7\nCCCl\tt2\tb8\n",
    }
    ids = {name: _upload(service, key, name, content) for name, content in by_format.items()}
    service.drain()
    inputs = {name: [r["input"] for r in _pages(service, key, screen_id)]
              for name, screen_id in ids.items()}
    assert inputs["library.parquet"] == [{"name": "p1", "SMILES": "CCO", "mw": "46.07"},
                                         {"name": "p2", "SMILES": "CCCl", "mw": "64.51"}]
    assert inputs["library.smi.gz"] == [{"smiles": "CCO", "id": "first"},
                                        {"smiles": "CCCl", "id": "second"}]
    assert inputs["library.tsv"] == [{"smiles": "CCO", "id": "t1", "batch": "b7"},
                                     {"smiles": "CCCl", "id": "t2", "batch": "b8"}]
    for screen_id in ids.values():
        assert [r["status"] for r in _pages(service, key, screen_id)] == ["ok", "ok"]


@pytest.mark.parametrize("name, content, code, message", [
    ("lib.smi.gz", b"\x1f\x8b\x08\x00broken", 422, "lib.smi.gz: the gzip data is corrupt"),
    ("lib.parquet", b"PAR1 not really", 422, "lib.parquet: not a readable Parquet file"),
    ("lib.csv", b"a;b\n1;2\n", 422, "lib.csv: no SMILES column found"),
    ("lib.csv", b"smiles,x\n\xff\xfe,1\n", 422, "lib.csv: not UTF-8 text"),
    ("lib.mol2", b"CCO\n", 415, "unsupported file type '.mol2'"),
    ("lib.smi", b"", 422, "lib.smi: the input is empty"),
])
def test_a_bad_file_gets_one_clear_line(make_service, name, content, code, message):
    service = make_service()
    headers = service.auth(service.new_key())
    response = service.client.post("/v1/screens", files={"file": (name, content)},
                                   headers=headers)
    assert response.status_code == code, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error, error
    assert "/tmp" not in error  # the upload's own name, never the server's copy
    assert service.client.get("/v1/screens", headers=headers).json() == {"screens": []}


def test_a_nul_in_a_column_name_or_value_is_stored_as_a_replacement_character(service):
    key = service.new_key()
    screen_id = _upload(service, key, "lib.csv", b"smiles,no\x00te\nCCO,a\x00b\n")
    service.drain()
    screen = service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()
    assert screen["input_columns"] == ["smiles", "no\ufffdte"]
    [row] = _pages(service, key, screen_id)
    assert row["input"] == {"smiles": "CCO", "no\ufffdte": "a\ufffdb"} and row["status"] == "ok"


def test_a_missing_column_names_the_form_field(service):
    key = service.new_key()
    response = service.client.post("/v1/screens", files={"file": ("a.csv", b"smiles\nCCO\n")},
                                   data={"id_column": "code"}, headers=service.auth(key))
    assert response.status_code == 422
    error = response.json()["error"]
    assert "id column 'code' not in the input" in error and "id_column" in error
    assert "--id-column" not in error


def test_json_screens_and_predictions_carry_smiles_and_id_as_their_input(service):
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "CC(=O)[O-].[Na+]"]},
                                  headers=service.auth(key)).json()
    service.drain()
    screen = service.client.get(f"/v1/screens/{created['id']}", headers=service.auth(key)).json()
    assert (screen["input_columns"], screen["smiles_column"], screen["id_column"]) == (
        ["smiles", "id"], "smiles", "id")
    rows = _pages(service, key, created["id"])
    assert [r["input"] for r in rows] == [{"smiles": "CCO", "id": None},
                                          {"smiles": "CC(=O)[O-].[Na+]", "id": None}]
    assert rows[1]["notes"] and "counter-ion" in rows[1]["notes"]  # stored with the item
    table = _csv(service, key, created["id"])
    assert table[0][:2] == ["smiles", "id"] and table[1][:2] == ["CCO", ""]
    assert table[2][table[0].index("notes")] == rows[1]["notes"]


def test_ranks_are_set_when_the_screen_is_done(service):
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "CCN", "C1CC",
                                                                  "c1ccccc1", "CCCl"]},
                                  headers=service.auth(key)).json()
    worker = service.worker()
    assert worker.run_once()  # the first chunk (4 rows): not done yet, so no ranks
    assert [r["rank"] for r in _pages(service, key, created["id"])] == [None] * 5
    assert worker.run_once()
    ranked = _pages(service, key, created["id"], order="rare")
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    by_row = {r["row"]: r["rank"] for r in _pages(service, key, created["id"])}
    assert by_row[3] is None  # C1CC is invalid: no rank


# --- migration 0004 ------------------------------------------------------------------------


def test_upgrade_to_0004_ranks_done_screens_and_downgrades_with_data(empty_database_url):
    from api import db

    engine = db.make_engine(empty_database_url)
    now = dt.datetime(2026, 1, 1)
    try:
        db.upgrade(engine, "0003")
        with engine.begin() as connection:
            for sql in (
                "INSERT INTO api_keys (id, name, prefix, key_hash, created_at) "
                "VALUES (1, 'a', 'zf_a', 'h1', :t)",
                "INSERT INTO models (id, key, name, checkpoint_sha256, level_names, "
                "target_levels, created_at) VALUES (1, 'k', 'm', 's', '[\"a\", \"b\"]', "
                "'[\"b\"]', :t)",
                "INSERT INTO molecules (id, inchikey, canonical_smiles, created_at) "
                "VALUES (5, 'LFQSCWFLJHTTHZ-UHFFFAOYSA-N', 'CCO', :t), "
                "(6, 'QGZKDVFQNNGYKY-UHFFFAOYSA-N', 'CCN', :t)",
                "INSERT INTO predictions (id, molecule_id, model_id, probabilities, level, "
                "rare_score, created_at) VALUES (7, 5, 1, '[0.4, 0.6]', 1, 0.6, :t), "
                "(8, 6, 1, '[0.9, 0.1]', 0, 0.1, :t)",
                "INSERT INTO owner_predictions (api_key_id, prediction_id, first_seen) "
                "VALUES (1, 7, :t), (1, 8, :t)",
                "INSERT INTO screens (id, owner_id, model_id, status, total, done, invalid, "
                "created_at, updated_at) VALUES ('done', 1, 1, 'done', 3, 3, 1, :t, :t), "
                "('busy', 1, 1, 'running', 1, 1, 0, :t, :t)",
                "INSERT INTO screen_items (screen_id, position, input_smiles, input_id, "
                "molecule_id, level, rare_score, error) VALUES "
                "('done', 0, 'CCN', 'n', 6, 0, 0.1, NULL), ('done', 1, 'C1CC', NULL, NULL, "
                "NULL, NULL, 'unclosed ring'), ('done', 2, 'OCC', 'e', 5, 1, 0.6, NULL), "
                "('busy', 0, 'CCO', NULL, 5, 1, 0.6, NULL)",
            ):
                connection.execute(text(sql), {"t": now})
        db.upgrade(engine)
        with engine.connect() as connection:
            ranks = connection.execute(text(
                "SELECT screen_id, position, rank FROM screen_items "
                "ORDER BY screen_id, position")).all()
            columns = connection.execute(text("SELECT input_columns FROM screens")).all()
        assert [tuple(r) for r in ranks] == [("busy", 0, None), ("done", 0, 2),
                                             ("done", 1, None), ("done", 2, 1)]
        assert [tuple(c) for c in columns] == [(None,), (None,)]
        db.check_migrated(engine)
        db.downgrade(engine, "0003")  # rows referenced by other tables' keys stay
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM predictions")).scalar() == 2
            assert connection.execute(text("SELECT count(*) FROM screen_items")).scalar() == 4
    finally:
        engine.dispose()


def test_an_older_screen_reads_as_smiles_and_id(service):
    """A screen stored before 0004 (no input columns or values) answers its SMILES and id as
    its input, like a JSON screen."""
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO"], "ids": ["e"]},
                                  headers=service.auth(key)).json()
    service.drain()
    with service.state.engine.begin() as connection:
        connection.execute(text("UPDATE screen_items SET input_values = NULL, notes = NULL"))
        connection.execute(text("UPDATE screens SET input_columns = NULL, smiles_column = NULL,"
                                " id_column = NULL"))
    [row] = _pages(service, key, created["id"])
    assert row["input"] == {"smiles": "CCO", "id": "e"} and row["status"] == "ok"
    assert row["row"] == 1 and row["rank"] == 1
