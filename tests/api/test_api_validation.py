"""Hostile but well-formed input gets a clear 4xx (or an invalid row), never a 500.

Regression tests of issue 13: lone surrogates, forged cursors, NUL characters, unbounded ids
and names, unknown body fields; and the OpenAPI document declaring the limits the routes
enforce. Every test runs on SQLite and on PostgreSQL (which refuses NUL in text).
"""

from __future__ import annotations

import base64
import json

import pytest

JSON = {"Content-Type": "application/json"}


def _raw_post(service, key, path, raw: bytes):
    """POST raw JSON bytes (httpx cannot encode a lone surrogate itself)."""
    return service.client.post(path, content=raw, headers={**service.auth(key), **JSON})


def _cursor(payload) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _rows(service, key, screen_id):
    response = service.client.get(f"/v1/screens/{screen_id}/results",
                                  params={"order": "input", "limit": 1000},
                                  headers=service.auth(key))
    assert response.status_code == 200, response.text
    return response.json()["results"]


# --- 1. lone surrogates ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/screens"])
@pytest.mark.parametrize("raw, where", [
    (rb'{"smiles": ["C\ud800C"]}', "smiles.0"),
    (rb'{"smiles": ["C"], "ids": ["\ud800"]}', "ids.0"),
    (rb'{"smiles": ["C"], "name": "a\udfffb"}', "name"),
])
def test_lone_surrogates_are_refused_with_one_message(service, path, raw, where):
    key = service.new_key()
    response = _raw_post(service, key, path, raw)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["error"].startswith(f"{where}: contains a lone UTF-16 surrogate")
    assert "valid Unicode" in body["error"]


@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/screens"])
def test_a_surrogate_field_name_is_named_safely(service, path):
    key = service.new_key()
    response = _raw_post(service, key, path, rb'{"smiles": ["C"], "\ud800x": 1}')
    assert response.status_code == 422, response.text
    assert "unicode" in response.json()["error"].lower()


# --- unknown fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/screens"])
def test_unknown_body_fields_are_refused_by_name(service, path):
    key = service.new_key()
    response = service.client.post(path, json={"smiles": ["CCO"], "smile": ["C"]},
                                   headers=service.auth(key))
    assert response.status_code == 422
    assert response.json()["error"].startswith("smile: unknown field")
    assert response.json()["detail"][0]["loc"] == ["body", "smile"]


def test_numeric_ids_are_still_taken_as_text(service):
    key = service.new_key()
    response = service.client.post("/v1/predictions", json={"smiles": ["C", "CC"],
                                                            "ids": [7, 2.5]},
                                   headers=service.auth(key))
    assert response.status_code == 200
    assert [r["input"]["id"] for r in response.json()["results"]] == ["7", "2.5"]


# --- 2. forged cursors -------------------------------------------------------------------------


FORGED = [
    ("input", {"o": "input", "f": [None, None], "k": [99999999999999999999999]}),
    ("input", {"o": "input", "f": [None, None], "k": [2**31]}),
    ("input", {"o": "input", "f": [None, None], "k": [-1]}),
    ("input", {"o": "input", "f": [None, None], "k": [True]}),
    ("input", {"o": "input", "f": [None, None], "k": [1.5]}),
    ("input", {"o": "input", "f": [None, None], "k": ["3"]}),
    ("input", {"o": "input", "f": [None, None], "k": 3}),
    ("input", {"o": "input", "f": [None, None]}),
    ("input", {"o": "input", "f": [None, None], "k": [3], "x": 1}),
    ("input", {"o": "input", "f": [False, None], "k": [3]}),
    ("input", [1, 2, 3]),
    ("rare", {"o": "rare", "f": [None, None], "k": [True, 5]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [0.5, True]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [0.5, 99999999999999999999999]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [1e308 * 10, 1]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [2.0, 1]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [None, 1]}),
    ("rare", {"o": "rare", "f": [None, None], "k": [0.5]}),
]


def test_forged_cursors_are_refused(service):
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "CCN", "CCC"]},
                                  headers=service.auth(key))
    screen_id = created.json()["id"]
    service.drain()
    for order, payload in FORGED:
        response = service.client.get(f"/v1/screens/{screen_id}/results",
                                      params={"order": order, "cursor": _cursor(payload)},
                                      headers=service.auth(key))
        assert response.status_code == 422, (payload, response.text)
        assert response.json()["code"] == "invalid_cursor", payload


def test_cursor_edge_values_that_are_valid_are_accepted(service):
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "CCN", "CCC"]},
                                  headers=service.auth(key))
    screen_id = created.json()["id"]
    service.drain()
    url = f"/v1/screens/{screen_id}/results"
    last = service.client.get(url, params={"order": "input", "cursor": _cursor(
        {"o": "input", "f": [None, None], "k": [2**31 - 1]})}, headers=service.auth(key))
    assert last.status_code == 200 and last.json()["results"] == []
    top = service.client.get(url, params={"cursor": _cursor(
        {"o": "rare", "f": [None, None], "k": [1, 0]})}, headers=service.auth(key))
    assert top.status_code == 200 and len(top.json()["results"]) == 3
    garbage = service.client.get(url, params={"cursor": "W" * 999}, headers=service.auth(key))
    assert garbage.status_code == 422 and garbage.json()["code"] == "invalid_cursor"
    too_long = service.client.get(url, params={"cursor": "W" * 1001}, headers=service.auth(key))
    assert too_long.status_code == 422


# --- 3. NUL characters -------------------------------------------------------------------------


def test_nul_in_a_json_screen_smiles_makes_that_row_invalid(service):
    key = service.new_key()
    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "C\x00C", "CCN"],
                                                       "ids": ["a", "b", "c"]},
                                  headers=service.auth(key))
    assert created.status_code == 202, created.text
    service.drain()
    rows = _rows(service, key, created.json()["id"])
    assert [(r["row"], r["input"]["id"], r["status"]) for r in rows] == [
        (1, "a", "ok"), (2, "b", "invalid"), (3, "c", "ok")]
    assert rows[1]["input"]["smiles"] == "C\ufffdC"
    assert "NUL character (U+0000) at character 1" in rows[1]["reason"]


@pytest.mark.parametrize("body, where", [
    ({"smiles": ["CCO"], "ids": ["a\x00b"]}, "ids.0"),
    ({"smiles": ["CCO"], "name": "lib\x00rary"}, "name"),
])
@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/screens"])
def test_nul_in_an_id_or_name_is_refused(service, path, body, where):
    key = service.new_key()
    response = service.client.post(path, json=body, headers=service.auth(key))
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(f"{where}: contains a NUL character (U+0000)")


def test_nul_in_a_predictions_smiles_comes_back_invalid_as_given(service):
    key = service.new_key()
    response = service.client.post("/v1/predictions", json={"smiles": ["C\x00C", "CCO"]},
                                   headers=service.auth(key))
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["input"]["smiles"] == "C\x00C" and first["status"] == "invalid"
    assert second["status"] == "ok"


def test_nul_in_an_uploaded_line_makes_only_that_row_invalid(service):
    key = service.new_key()
    content = b"CCO first\nC\x00C second\nCCN th\x00ird\nCCC fourth\n"
    created = service.client.post("/v1/screens", files={"file": ("lib.smi", content)},
                                  headers=service.auth(key))
    assert created.status_code == 202, created.text
    assert created.json()["total"] == 4
    service.drain()
    screen = service.client.get(f"/v1/screens/{created.json()['id']}",
                                headers=service.auth(key)).json()
    assert screen["counts"] == {"total": 4, "done": 4, "invalid": 2}
    rows = _rows(service, key, created.json()["id"])
    assert [(r["input"]["smiles"], r["input"]["id"], r["status"]) for r in rows] == [
        ("CCO", "first", "ok"), ("C\ufffdC", "second", "invalid"),
        ("CCN", "th\ufffdird", "invalid"), ("CCC", "fourth", "ok")]
    assert "the SMILES contains a NUL character" in rows[1]["reason"]
    assert "the id contains a NUL character" in rows[2]["reason"]


def test_malformed_screen_ids_in_the_path_are_refused(service):
    key = service.new_key()
    for screen_id in ("%00", "abc%00def", "0" * 31 + "%00", "x" * 32, "0" * 33, "A" * 32):
        for method, suffix in (("get", ""), ("delete", ""), ("get", "/results"),
                               ("get", "/results.csv")):
            response = getattr(service.client, method)(f"/v1/screens/{screen_id}{suffix}",
                                                       headers=service.auth(key))
            assert response.status_code == 422, (method, screen_id, suffix, response.text)
            assert response.json()["error"].startswith("path.screen_id:")


def test_a_well_formed_unknown_screen_id_is_not_found(service):
    key = service.new_key()
    response = service.client.get(f"/v1/screens/{'0' * 32}", headers=service.auth(key))
    assert response.status_code == 404


# --- 6. id and name lengths --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/screens"])
def test_ids_and_names_over_their_limits_are_refused(make_service, path):
    service = make_service(max_id_length=5, max_name_length=8)
    key = service.new_key()
    post = service.client.post
    at_limit = post(path, json={"smiles": ["C"], "ids": ["12345"], "name": "x" * 8},
                    headers=service.auth(key))
    assert at_limit.status_code in (200, 202), at_limit.text
    long_id = post(path, json={"smiles": ["C", "CC"], "ids": ["a", "123456"]},
                   headers=service.auth(key))
    assert long_id.status_code == 422 and long_id.json()["code"] == "id_too_long"
    assert long_id.json()["error"] == ("ids.1: id has 6 characters, more than the limit of 5")
    long_name = post(path, json={"smiles": ["C"], "name": "x" * 9}, headers=service.auth(key))
    assert long_name.status_code == 422 and long_name.json()["code"] == "name_too_long"
    assert "limit of 8" in long_name.json()["error"]


def test_default_id_limit_stops_a_huge_id(service):
    key = service.new_key()
    response = service.client.post("/v1/predictions", json={"smiles": ["C"], "ids": ["x" * 201]},
                                   headers=service.auth(key))
    assert response.status_code == 422 and "limit of 200" in response.json()["error"]
    assert len(response.text) < 1000  # the id is not echoed back


def test_upload_form_name_over_the_limit_is_refused(make_service):
    service = make_service(max_name_length=8)
    key = service.new_key()
    response = service.client.post("/v1/screens", data={"name": "x" * 9},
                                   files={"file": ("lib.smi", b"CCO\n")},
                                   headers=service.auth(key))
    assert response.status_code == 422 and response.json()["code"] == "name_too_long"
    nul = service.client.post("/v1/screens", data={"name": "a\x00b"},
                              files={"file": ("lib.smi", b"CCO\n")}, headers=service.auth(key))
    assert nul.status_code == 422 and "NUL" in nul.json()["error"]
    # a long file name is only a default label: it is cut, not refused
    named = service.client.post("/v1/screens", files={"file": ("a" * 20 + ".smi", b"CCO\n")},
                                headers=service.auth(key))
    assert named.status_code == 202
    screen = service.client.get(f"/v1/screens/{named.json()['id']}",
                                headers=service.auth(key)).json()
    assert screen["name"] == "a" * 8


def test_uploaded_rows_with_over_long_ids_or_smiles_are_invalid_with_the_reason(make_service):
    service = make_service(max_id_length=5, max_smiles_length=10)
    key = service.new_key()
    content = b"CCO ok\nCCN toolongid\nCCCCCCCCCCCC long\nCCC fine\n"
    created = service.client.post("/v1/screens", files={"file": ("lib.smi", content)},
                                  headers=service.auth(key))
    assert created.status_code == 202, created.text
    service.drain()
    rows = _rows(service, key, created.json()["id"])
    # the row's own values come back unchanged; the row is invalid, saying why
    assert [(r["input"]["smiles"], r["input"]["id"], r["status"]) for r in rows] == [
        ("CCO", "ok", "ok"), ("CCN", "toolongid", "invalid"),
        ("CCCCCCCCCCCC", "long", "invalid"), ("CCC", "fine", "ok")]
    assert rows[1]["reason"] == ("the id has 9 characters, more than the limit of 5; it is "
                                 "stored cut to 5")
    assert "the SMILES has 12 characters, more than the limit of 10" in rows[2]["reason"]


# --- the OpenAPI document declares the limits ----------------------------------------------------


def test_openapi_declares_the_enforced_limits(make_service):
    service = make_service(max_request_smiles=7, max_screen_molecules=70, max_smiles_length=50,
                           max_id_length=20, max_name_length=30)
    document = service.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    operations = document["paths"]
    for model, max_items, path in (("PredictionsRequest", 7, "/v1/predictions"),
                                   ("ScreenRequest", 70, "/v1/screens")):
        body = schemas[model]
        assert body["additionalProperties"] is False
        smiles = body["properties"]["smiles"]
        assert (smiles["minItems"], smiles["maxItems"], smiles["items"]["maxLength"]) == (
            1, max_items, 50)
        ids = next(s for s in body["properties"]["ids"]["anyOf"] if s["type"] == "array")
        assert ids["maxItems"] == max_items
        assert next(s for s in ids["items"]["anyOf"] if s["type"] == "string")["maxLength"] == 20
        name = next(s for s in body["properties"]["name"]["anyOf"] if s["type"] == "string")
        assert name["maxLength"] == 30
        content = operations[path]["post"]["requestBody"]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{model}"}
    assert "SmilesRequest" not in schemas
    form = operations["/v1/screens"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["properties"]["name"]["maxLength"] == 30
    inchikey = operations["/v1/molecules/{inchikey}"]["get"]["parameters"]
    assert [p["schema"]["pattern"] for p in inchikey if p["name"] == "inchikey"] == [
        "^[A-Z]{14}-[A-Z]{10}-[A-Z]$"]
    screen = operations["/v1/screens/{screen_id}"]["get"]["parameters"]
    assert [p["schema"]["pattern"] for p in screen if p["name"] == "screen_id"] == [
        "^[0-9a-f]{32}$"]
    levels = service.served.level_names
    assert schemas["PredictionsRequest"]["properties"]["target_levels"]["anyOf"][0]["items"] == {
        "type": "string", "enum": levels}
    results = operations["/v1/screens/{screen_id}/results"]["get"]["parameters"]
    level = next(p for p in results if p["name"] == "level")["schema"]
    assert next(s for s in level["anyOf"] if s["type"] == "string")["enum"] == levels


def test_method_not_allowed_lists_every_method_of_the_path(service):
    key = service.new_key()
    one = service.client.request("OPTIONS", f"/v1/screens/{'0' * 32}", headers=service.auth(key))
    assert one.status_code == 405 and one.headers["allow"] == "DELETE, GET"
    every = service.client.request("PUT", "/v1/screens", headers=service.auth(key))
    assert every.status_code == 405 and every.headers["allow"] == "GET, POST"
