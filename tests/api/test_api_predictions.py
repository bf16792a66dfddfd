"""POST /v1/predictions, models, molecules, health and readiness, on SQLite and PostgreSQL."""

import math

SMILES = ["CCO", "C1CC", "c1ccccc1CCC", "", "OCC", "N#CCCC"]


def test_predictions_keep_input_order_with_invalid_inline(service):
    key = service.new_key()
    response = service.client.post(
        "/v1/predictions", json={"smiles": SMILES, "ids": ["a", "b", "c", "d", "e", "f"]},
        headers=service.auth(key),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "test-emission8"
    assert body["target_levels"] == service.served.target_levels
    results = body["results"]
    assert [r["input"] for r in results] == [{"smiles": t, "id": i}
                                             for t, i in zip(SMILES, "abcdef", strict=True)]
    assert [r["row"] for r in results] == list(range(1, len(SMILES) + 1))  # from 1
    assert [r["status"] for r in results] == ["ok", "invalid", "ok", "invalid", "ok", "ok"]
    names = service.served.level_names
    empty = {"notes": None, "canonical_smiles": None, "level": None, "level_index": None,
             "rare_score": None, **{f"p_{name}": None for name in names}, "inchikey": None}
    assert results[1] == {"input": {"smiles": "C1CC", "id": "b"}, "row": 2,
                          "status": "invalid", "reason": "unclosed ring", **empty}
    assert list(results[1]) == list(results[0])  # every result has every field, in order
    assert results[3]["reason"] == "empty SMILES"
    ok = results[0]
    assert list(ok) == ["input", "row", "status", "reason", "notes", "canonical_smiles",
                        "level", "level_index", "rare_score", *[f"p_{n}" for n in names],
                        "inchikey"]  # the record's fields, in its order; no rank outside screens
    assert ok["canonical_smiles"] == "CCO" and ok["reason"] is None
    assert ok["inchikey"] == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
    probabilities = [ok[f"p_{name}"] for name in names]
    assert all(round(p, 6) == p for p in probabilities)  # 6 decimals, as in the CSV
    assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-4)
    assert ok["level_index"] == probabilities.index(max(probabilities))  # from 0
    assert ok["level"] == names[ok["level_index"]]
    targets = body["target_levels"]
    assert math.isclose(ok["rare_score"], sum(ok[f"p_{t}"] for t in targets), abs_tol=1e-5)
    assert round(ok["rare_score"], 6) == ok["rare_score"]
    # OCC is ethanol again: same molecule, same stored prediction
    assert results[4]["inchikey"] == ok["inchikey"]
    assert [results[4][f"p_{n}"] for n in names] == probabilities


def test_predictions_without_ids_carry_a_null_id_and_the_standardisation_notes(service):
    key = service.new_key()
    body = service.client.post("/v1/predictions", json={"smiles": ["CCO.Cl", "CCO"]},
                               headers=service.auth(key)).json()
    salt, plain = body["results"]
    assert salt["input"] == {"smiles": "CCO.Cl", "id": None}
    assert salt["notes"] and "; " not in salt["notes"][-2:]  # text, as in the CSV
    assert salt["canonical_smiles"] == plain["canonical_smiles"] == "CCO"
    assert plain["notes"] is None


def test_known_molecules_are_never_predicted_again(service):
    key = service.new_key()
    served = service.served
    first = service.client.post("/v1/predictions", json={"smiles": ["CCO", "CCN", "OCC"]},
                                headers=service.auth(key))
    assert first.status_code == 200
    assert served.molecules_predicted == 2  # ethanol once, although given twice
    again = service.client.post("/v1/predictions", json={"smiles": ["OCC", "NCC", "CCO"]},
                                headers=service.auth(key))
    assert again.status_code == 200
    assert served.molecules_predicted == 2  # nothing new: all three came from the database
    mixed = service.client.post("/v1/predictions", json={"smiles": ["CCO", "CCCl"]},
                                headers=service.auth(key))
    assert served.molecules_predicted == 3  # only chloroethane was new
    assert [r["rare_score"] for r in again.json()["results"]] == [
        first.json()["results"][i]["rare_score"] for i in (0, 1, 0)
    ]
    assert mixed.json()["results"][0] == {**first.json()["results"][0]}


def test_molecule_lookup_by_inchikey(service):
    key = service.new_key()
    service.client.post("/v1/predictions", json={"smiles": ["CCO"]}, headers=service.auth(key))
    response = service.client.get("/v1/molecules/LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
                                  headers=service.auth(key))
    assert response.status_code == 200
    body = response.json()
    [structure] = body["structures"]
    assert structure["canonical_smiles"] == "CCO"
    [prediction] = structure["predictions"]
    assert prediction["first_seen"] == structure["first_seen"]
    assert prediction["model"] == "test-emission8"
    assert prediction["model_id"] == service.served.model_id
    assert set(prediction["probabilities"]) == set(service.served.level_names)
    unknown = service.client.get("/v1/molecules/UHOVQNZJYSORNB-UHFFFAOYSA-N",
                                 headers=service.auth(key))
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    malformed = service.client.get("/v1/molecules/not-a-key", headers=service.auth(key))
    assert malformed.status_code == 422 and "InChIKey" in malformed.json()["error"]


def test_models_lists_the_served_model_with_its_card(service):
    key = service.new_key()
    response = service.client.get("/v1/models", headers=service.auth(key))
    assert response.status_code == 200
    [model] = response.json()["models"]
    assert model["name"] == "test-emission8"
    assert model["levels"][7] == "near-infrared"
    assert model["target_levels"] == model["card"]["target_levels"]
    assert model["card"]["checkpoint_sha256"] == model["checkpoint_sha256"]
    assert "test_metrics" in model["card"]


def test_health_ready_and_docs_need_no_key(service):
    assert service.client.get("/health").json() == {"status": "ok"}
    ready = service.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "model": "ok"}
    assert service.client.get("/docs").status_code == 200
    paths = service.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/predictions", "/v1/screens", "/v1/screens/{screen_id}",
                 "/v1/screens/{screen_id}/results", "/v1/screens/{screen_id}/results.csv",
                 "/v1/molecules/{inchikey}", "/v1/models", "/health", "/ready"):
        assert path in paths, path


def test_every_v1_route_needs_a_valid_key(service):
    from api import store
    from api.db import session_scope

    routes = [("post", "/v1/predictions", {"json": {"smiles": ["CCO"]}}),
              ("post", "/v1/screens", {"json": {"smiles": ["CCO"]}}),
              ("get", "/v1/screens", {}), ("get", "/v1/screens/x", {}),
              ("delete", "/v1/screens/x", {}), ("get", "/v1/screens/x/results", {}),
              ("get", "/v1/screens/x/results.csv", {}),
              ("get", "/v1/molecules/LFQSCWFLJHTTHZ-UHFFFAOYSA-N", {}), ("get", "/v1/models", {})]
    revoked = service.new_key("leaver")
    with session_scope(service.state.sessions) as session:
        store.revoke_api_key(session, "leaver")
    cases = {
        "missing": ({}, "missing API key"),
        "not bearer": ({"Authorization": "Basic abc"}, "Bearer KEY"),
        "wrong": ({"Authorization": "Bearer zf_wrong"}, "unknown API key"),
        "revoked": (service.auth(revoked), "revoked"),
    }
    for method, path, kwargs in routes:
        for case, (headers, message) in cases.items():
            response = getattr(service.client, method)(path, headers=headers, **kwargs)
            assert response.status_code == 401, (method, path, case)
            body = response.json()
            assert message in body["error"], (method, path, case, body)
            assert body["code"] in ("unauthorized", "key_revoked")
            assert response.headers["www-authenticate"] == "Bearer"


def test_request_limits_answer_clear_errors(make_service):
    service = make_service(max_request_smiles=3, max_smiles_length=20, max_heavy_atoms=6,
                           max_body_bytes=2000)
    headers = service.auth(service.new_key())
    post = service.client.post

    too_many = post("/v1/predictions", json={"smiles": ["C"] * 4}, headers=headers)
    assert too_many.status_code == 413 and too_many.json()["code"] == "too_many_smiles"
    assert "limit of 3" in too_many.json()["error"]

    too_long = post("/v1/predictions", json={"smiles": ["C", "C" * 21]}, headers=headers)
    assert too_long.status_code == 422 and too_long.json()["code"] == "smiles_too_long"
    assert too_long.json()["error"].startswith("smiles.1:")

    # too many heavy atoms is a property of one molecule: inline, not a failed request
    big = post("/v1/predictions", json={"smiles": ["CCCCCCC", "CC"]}, headers=headers)
    assert big.status_code == 200
    first, second = big.json()["results"]
    assert first["status"] == "invalid" and "more than the limit of 6" in first["reason"]
    assert second["status"] == "ok"

    body = post("/v1/predictions", json={"smiles": ["C" * 20] * 3, "ids": ["x" * 700] * 3},
                headers=headers)
    assert body.status_code == 413 and body.json()["code"] == "payload_too_large"

    def chunks():
        yield b'{"smiles": ["'
        for _ in range(30):
            yield b"C" * 100
        yield b'"]}'

    streamed = post("/v1/predictions", content=chunks(),
                    headers={**headers, "Content-Type": "application/json"})
    assert streamed.status_code == 413

    empty = post("/v1/predictions", json={"smiles": []}, headers=headers)
    assert empty.status_code == 422
    mismatched = post("/v1/predictions", json={"smiles": ["C"], "ids": ["a", "b"]},
                      headers=headers)
    assert mismatched.status_code == 422 and "ids" in mismatched.json()["error"]
    wrong_type = post("/v1/predictions", json={"smiles": "CCO"}, headers=headers)
    assert wrong_type.status_code == 422 and wrong_type.json()["code"] == "validation_error"
