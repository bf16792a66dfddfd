"""Screens: submit (JSON and files), follow, own, page through, export, delete."""

import csv
import gzip
import io

import pytest

LIBRARY = ["CCO", "C1CC", "c1ccccc1CCC", "CCN", "not_smiles", "N#CCCC", "OC(=O)CC", "CCCCl",
           "OCC", "CCCCCCF", "c1ccccc1C"]
INVALID = {1, 4}


def _submit(service, key, smiles=LIBRARY, **extra):
    response = service.client.post("/v1/screens", json={"smiles": smiles, **extra},
                                    headers=service.auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_screen_lifecycle_with_embedded_workers(make_service):
    service = make_service(worker_threads=2, chunk_size=3)
    key = service.new_key()
    created = service.client.post(
        "/v1/screens", json={"smiles": LIBRARY, "ids": [f"m{i}" for i in range(len(LIBRARY))],
                             "name": "first"},
        headers=service.auth(key),
    )
    assert created.status_code == 202
    assert set(created.json()) == {"id", "status", "total"}
    screen = service.wait_for(created.json()["id"], key)
    assert screen["status"] == "done", screen
    assert screen["counts"] == {"total": 11, "done": 11, "invalid": 2}
    assert screen["progress"] == 1.0 and screen["name"] == "first"
    assert screen["created_at"] <= screen["started_at"] <= screen["finished_at"]
    assert screen["error"] is None
    # ethanol appears twice (CCO, OCC) but is stored once. Two worker threads may both compute
    # it when its two chunks run at the same time (neither has stored it yet); storage keeps one.
    distinct = len(LIBRARY) - len(INVALID) - 1
    assert distinct <= service.served.molecules_predicted <= distinct + 1
    ethanol = service.client.get("/v1/molecules/LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
                                 headers=service.auth(key)).json()
    [structure] = ethanol["structures"]
    assert structure["canonical_smiles"] == "CCO" and len(structure["predictions"]) == 1


def test_results_page_by_rare_score_and_walk_every_row_once(service):
    key = service.new_key()
    screen_id = _submit(service, key)
    assert service.drain() == 3  # 11 items in chunks of 4
    walked, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = service.client.get(f"/v1/screens/{screen_id}/results", params=params,
                                  headers=service.auth(key)).json()
        pages += 1
        walked += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5  # 9 predicted items, 2 per page
    assert sorted(r["row"] - 1 for r in walked) == sorted(set(range(11)) - INVALID)
    assert [r["rank"] for r in walked] == list(range(1, 10))  # a done screen's ranks, from 1
    scores = [r["rare_score"] for r in walked]
    assert scores == sorted(scores, reverse=True)
    for a, b in zip(walked, walked[1:], strict=False):  # ties in input order
        if a["rare_score"] == b["rare_score"]:
            assert a["row"] < b["row"]
    # input order: every item, invalid ones included, in pages that line up
    everything = service.client.get(f"/v1/screens/{screen_id}/results",
                                    params={"order": "input", "limit": 1000},
                                    headers=service.auth(key)).json()
    assert [r["row"] for r in everything["results"]] == list(range(1, 12))
    assert everything["next_cursor"] is None
    assert [r["status"] == "invalid" for r in everything["results"]] == [
        i in INVALID for i in range(11)
    ]
    rank_of = {r["row"]: r["rank"] for r in walked}
    assert [r["rank"] for r in everything["results"]] == [rank_of.get(i + 1) for i in range(11)]
    ethanol = [r for r in everything["results"] if r["input"]["smiles"] in ("CCO", "OCC")]
    assert ethanol[0]["inchikey"] == ethanol[1]["inchikey"]


def test_results_filters_and_cursor_checks(service):
    key = service.new_key()
    screen_id = _submit(service, key)
    service.drain()
    url = f"/v1/screens/{screen_id}/results"
    headers = service.auth(key)
    rows = service.client.get(url, params={"limit": 100}, headers=headers).json()["results"]
    level = rows[0]["level"]
    same_level = service.client.get(url, params={"level": level.upper(), "limit": 1},
                                    headers=headers).json()
    expected = [r["row"] for r in rows if r["level"] == level]
    got, page = [], same_level
    while True:
        got += [r["row"] for r in page["results"]]
        assert all(r["level"] == level for r in page["results"])
        if page["next_cursor"] is None:
            break
        page = service.client.get(url, params={"level": level, "limit": 1,
                                               "cursor": page["next_cursor"]},
                                  headers=headers).json()
    assert got == expected
    threshold = rows[3]["rare_score"]
    above = service.client.get(url, params={"min_score": threshold}, headers=headers).json()
    assert [r["row"] for r in above["results"]] == [r["row"] for r in rows
                                                     if r["rare_score"] >= threshold]
    # a cursor only fits the query it came from
    first = service.client.get(url, params={"limit": 1}, headers=headers).json()
    other_query = service.client.get(url, params={"limit": 1, "order": "input",
                                                  "cursor": first["next_cursor"]},
                                     headers=headers)
    assert other_query.status_code == 422 and other_query.json()["code"] == "invalid_cursor"
    garbage = service.client.get(url, params={"cursor": "%%%"}, headers=headers)
    assert garbage.status_code == 422
    unknown_level = service.client.get(url, params={"level": "ultra-blue"}, headers=headers)
    assert unknown_level.status_code == 422 and "near-infrared" in unknown_level.json()["error"]
    assert service.client.get(url, params={"limit": 0}, headers=headers).status_code == 422


def test_csv_export_streams_every_row(service):
    key = service.new_key()
    screen_id = _submit(service, key, ids=[f"m{i}" for i in range(len(LIBRARY))])
    service.drain()
    response = service.client.get(f"/v1/screens/{screen_id}/results.csv",
                                  headers=service.auth(key))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"screen-{screen_id}.csv" in response.headers["content-disposition"]
    names = service.served.level_names
    reader = csv.reader(io.StringIO(response.text))
    assert next(reader) == ["smiles", "id", "row", "rank", "status", "reason", "notes",
                            "canonical_smiles", "level", "level_index", "rare_score",
                            *[f"p_{name}" for name in names], "inchikey"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["smiles"] for row in rows] == LIBRARY
    assert [row["id"] for row in rows] == [f"m{i}" for i in range(len(LIBRARY))]
    assert [row["row"] for row in rows] == [str(i) for i in range(1, 12)]
    assert rows[1]["status"] == "invalid" and rows[1]["reason"] == "unclosed ring"
    assert rows[1]["rank"] == rows[1]["level"] == rows[1]["rare_score"] == ""
    assert rows[0]["status"] == "ok" and rows[0]["level"] and rows[0]["inchikey"]
    assert names[int(rows[0]["level_index"])] == rows[0]["level"]
    assert sorted(int(row["rank"]) for row in rows if row["rank"]) == list(range(1, 10))
    total = sum(float(rows[0][f"p_{name}"]) for name in names)
    assert abs(total - 1.0) < 1e-4
    assert len(rows[0]["rare_score"].split(".")[1]) == 6 and float(rows[0]["rare_score"]) > 0
    page = service.client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                              headers=service.auth(key)).json()["results"]
    assert page[0]["rare_score"] == float(rows[0]["rare_score"])  # the same rounded number


def test_csv_of_an_unprocessed_screen_lists_pending_rows(service):
    key = service.new_key()
    screen_id = _submit(service, key, smiles=["CCO", "CCN"])
    rows = list(csv.DictReader(io.StringIO(service.client.get(
        f"/v1/screens/{screen_id}/results.csv", headers=service.auth(key)).text)))
    assert [row["status"] for row in rows] == ["pending", "pending"]
    assert [row["rank"] for row in rows] == ["", ""]


@pytest.mark.parametrize("name, content, expected", [
    ("library.smi", b"smiles name\nCCO ethanol\nC1CC broken\n\nCCN ethylamine\n",
     [("CCO", "ethanol"), ("C1CC", "broken"), ("", None), ("CCN", "ethylamine")]),
    ("library.csv", b"name,SMILES,value\nx,CCO,1\ny,c1ccccc1,2\n",
     [("CCO", "x"), ("c1ccccc1", "y")]),  # a column named name holds the ids
    ("library.txt", b"CCO\nCCCl\n", [("CCO", None), ("CCCl", None)]),
    ("library.smi.gz", gzip.compress(b"CCO e\nCCCl c\n"), [("CCO", "e"), ("CCCl", "c")]),
])
def test_upload_a_library_file(service, name, content, expected):
    key = service.new_key()
    response = service.client.post("/v1/screens", files={"file": (name, content)},
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    screen_id = response.json()["id"]
    assert response.json()["total"] == len(expected)
    service.drain()
    screen = service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()
    assert screen["status"] == "done" and screen["name"] == name
    rows = service.client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                              headers=service.auth(key)).json()["results"]
    smiles, ident = screen["smiles_column"], screen["id_column"]
    assert [(r["input"][smiles], r["input"][ident] or None) for r in rows] == expected
    assert [r["row"] for r in rows] == list(range(1, len(expected) + 1))


def test_upload_limits_and_bad_files(make_service):
    service = make_service(max_screen_molecules=3, max_upload_bytes=600)
    headers = service.auth(service.new_key())
    post = service.client.post
    too_many = post("/v1/screens", files={"file": ("a.smi", b"C\nCC\nCCC\nCCCC\n")},
                    headers=headers)
    assert too_many.status_code == 413 and too_many.json()["code"] == "too_many_molecules"
    too_big = post("/v1/screens", files={"file": ("a.smi", b"C" * 1000)}, headers=headers)
    assert too_big.status_code == 413 and "upload" in too_big.json()["error"]
    wrong_type = post("/v1/screens", files={"file": ("a.xlsx", b"C\n")}, headers=headers)
    assert wrong_type.status_code == 415 and ".sdf" in wrong_type.json()["error"]
    no_file = post("/v1/screens", data={"name": "x"}, files={"other": ("a.smi", b"C\n")},
                   headers=headers)
    assert no_file.status_code == 422 and "file" in no_file.json()["error"]
    empty = post("/v1/screens", files={"file": ("a.smi", b"")}, headers=headers)
    assert empty.status_code == 422 and "no molecules" in empty.json()["error"]
    no_column = post("/v1/screens", files={"file": ("a.csv", b"a,b\n1,2\n")}, headers=headers)
    assert no_column.status_code == 422 and "SMILES column" in no_column.json()["error"]
    too_many_json = post("/v1/screens", json={"smiles": ["C"] * 4}, headers=headers)
    assert too_many_json.status_code == 413
    plain = post("/v1/screens", content=b"CCO", headers={**headers,
                                                         "Content-Type": "text/plain"})
    assert plain.status_code == 415
    bad_json = post("/v1/screens", content=b"{", headers={**headers,
                                                          "Content-Type": "application/json"})
    assert bad_json.status_code == 422
    # nothing half-made was left behind
    assert service.client.get("/v1/screens", headers=headers).json() == {"screens": []}


def test_keys_see_and_delete_only_their_own_screens(service):
    alice, bob = service.new_key("alice"), service.new_key("bob")
    mine = _submit(service, alice)
    theirs = _submit(service, bob, smiles=["CCO"])
    listed = service.client.get("/v1/screens", headers=service.auth(alice)).json()["screens"]
    assert [s["id"] for s in listed] == [mine]
    assert listed[0]["status"] == "queued" and listed[0]["counts"]["done"] == 0
    for method, suffix in (("get", ""), ("get", "/results"), ("get", "/results.csv"),
                           ("delete", "")):
        response = getattr(service.client, method)(f"/v1/screens/{theirs}{suffix}",
                                                   headers=service.auth(alice))
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "not_found"
    assert service.client.get(f"/v1/screens/{theirs}",
                              headers=service.auth(bob)).status_code == 200


def test_delete_cancels_a_screen_and_its_chunks(service):
    from sqlalchemy import func, select

    from api.orm import ScreenChunk, ScreenItem

    key = service.new_key()
    screen_id = _submit(service, key)
    worker = service.worker()
    claimed = worker.claim()  # a worker is busy with the first chunk
    assert claimed is not None
    response = service.client.delete(f"/v1/screens/{screen_id}", headers=service.auth(key))
    assert response.status_code == 204
    assert service.client.get(f"/v1/screens/{screen_id}",
                              headers=service.auth(key)).status_code == 404
    assert worker.process(claimed) is False  # its result is dropped, nothing breaks
    assert service.drain() == 0  # no chunk of the screen is left to claim
    with service.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ScreenItem)) == 0
        assert session.scalar(select(func.count()).select_from(ScreenChunk)) == 0
    again = service.client.delete(f"/v1/screens/{screen_id}", headers=service.auth(key))
    assert again.status_code == 404


def test_out_of_scope_items_say_so_in_pages_and_csv(service):
    key = service.new_key()
    screen_id = _submit(service, key, ["CCO", "[Na+].[Cl-]", "C1CC"])
    service.drain()
    page = service.client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                              headers=service.auth(key)).json()
    statuses = [(r["status"], r["reason"]) for r in page["results"]]
    assert statuses[0] == ("ok", None)
    assert statuses[1][0] == "out_of_scope" and statuses[1][1].startswith("a lone atom or ion")
    assert statuses[2][0] == "invalid" and "unclosed ring" in statuses[2][1]
    text = service.client.get(f"/v1/screens/{screen_id}/results.csv",
                              headers=service.auth(key)).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["status"] for row in rows] == ["ok", "out_of_scope", "invalid"]
    assert rows[1]["reason"].startswith("a lone atom or ion")
