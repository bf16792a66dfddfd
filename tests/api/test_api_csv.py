"""CSV uploads keep their columns and ids; results.csv honours order=rare|input and top=K."""

import csv
import io

import pytest

LIBRARY = ["CCO", "C1CC", "c1ccccc1CCC", "CCN", "N#CCCC", "OC(=O)CC", "CCCCl", "CCCCCCF"]


def _rows(response):
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def _upload(service, key, content: bytes, name="library.csv", **form):
    response = service.client.post("/v1/screens", files={"file": (name, content)}, data=form,
                                   headers=service.auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _input_rows(service, key, screen_id):
    return service.client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                              headers=service.auth(key)).json()["results"]


def test_read_molecule_inputs_takes_ids_from_a_named_or_detected_column(tmp_path):
    from zincfluor.screening.inputs import read_molecule_inputs

    path = tmp_path / "x.csv"
    path.write_text("Compound,SMILES,Identifier\nc1,CCO,A-1\nc2,CCN,\n")
    named = list(read_molecule_inputs(path, id_column="Compound"))
    assert [(r.smiles, r.id) for r in named] == [("CCO", "c1"), ("CCN", "c2")]
    detected = list(read_molecule_inputs(path, detect_id=True))
    assert [r.id for r in detected] == ["A-1", None]  # an empty id is no id
    assert [r.id for r in read_molecule_inputs(path)] == [None, None]  # the library default
    with pytest.raises(ValueError, match="id column 'code' not in the input"):
        list(read_molecule_inputs(path, id_column="code"))


def test_csv_upload_keeps_ids_from_a_detected_or_named_column(service):
    key = service.new_key()
    detected = _upload(service, key, b"ID,smiles,value\nm1,CCO,1\nm2,CCN,2\n")
    named = _upload(service, key, b"code,smiles,ID\nk1,CCO,x\nk2,CCN,y\n", id_column="code")
    plain = _upload(service, key, b"smiles,value\nCCO,1\n")
    service.drain()

    def screen(screen_id):
        return service.client.get(f"/v1/screens/{screen_id}", headers=service.auth(key)).json()

    assert [screen(i)["id_column"] for i in (detected, named, plain)] == ["ID", "code", None]
    assert [r["input"] for r in _input_rows(service, key, detected)] == [
        {"ID": "m1", "smiles": "CCO", "value": "1"}, {"ID": "m2", "smiles": "CCN", "value": "2"}]
    assert [r["input"]["code"] for r in _input_rows(service, key, named)] == ["k1", "k2"]
    assert [r["input"] for r in _input_rows(service, key, plain)] == [
        {"smiles": "CCO", "value": "1"}]
    exported = _rows(service.client.get(f"/v1/screens/{named}/results.csv",
                                        headers=service.auth(key)))
    assert [(row["code"], row["ID"]) for row in exported] == [("k1", "x"), ("k2", "y")]
    assert list(exported[0])[:4] == ["code", "smiles", "ID", "row"]

    missing = service.client.post("/v1/screens", files={"file": ("a.csv", b"smiles\nCCO\n")},
                                  data={"id_column": "code"}, headers=service.auth(key))
    assert missing.status_code == 422 and "id column 'code'" in missing.json()["error"]


def test_results_csv_in_rare_order_and_top_k(service, monkeypatch):
    from api.routes import screens

    key = service.new_key()
    response = service.client.post(
        "/v1/screens", json={"smiles": LIBRARY, "ids": [f"m{i}" for i in range(len(LIBRARY))]},
        headers=service.auth(key))
    screen_id = response.json()["id"]
    service.drain()
    url = f"/v1/screens/{screen_id}/results.csv"
    ranked_json = service.client.get(f"/v1/screens/{screen_id}/results",
                                     params={"order": "rare", "limit": 1000},
                                     headers=service.auth(key)).json()["results"]

    ranked = _rows(service.client.get(url, params={"order": "rare"}, headers=service.auth(key)))
    assert [int(row["row"]) for row in ranked] == [r["row"] for r in ranked_json]
    assert [int(row["rank"]) for row in ranked] == list(range(1, len(ranked) + 1))
    assert len(ranked) == len(LIBRARY) - 1  # predicted molecules only, like the JSON ranking
    scores = [float(row["rare_score"]) for row in ranked]
    assert scores == sorted(scores, reverse=True)

    top = service.client.get(url, params={"order": "rare", "top": 3}, headers=service.auth(key))
    assert [row["row"] for row in _rows(top)] == [row["row"] for row in ranked[:3]]
    assert f"screen-{screen_id}-rare-top3.csv" in top.headers["content-disposition"]
    # pages of the streamed export join up with no gap or repeat, also when top cuts one
    monkeypatch.setattr(screens, "CSV_PAGE", 2)
    for top in (None, 5):
        paged = _rows(service.client.get(url, params={"order": "rare"} | ({"top": top} if top
                                                                           else {}),
                                         headers=service.auth(key)))
        assert [row["row"] for row in paged] == [row["row"] for row in ranked[:top]]

    first_two = _rows(service.client.get(url, params={"top": 2}, headers=service.auth(key)))
    assert [row["smiles"] for row in first_two] == LIBRARY[:2]  # input order by default
    for params in ({"order": "score"}, {"top": 0}):
        bad = service.client.get(url, params=params, headers=service.auth(key))
        assert bad.status_code == 422, params
