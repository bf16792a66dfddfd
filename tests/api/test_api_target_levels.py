"""target_levels per request: validated by name, rare scores over them, recorded on screens."""

import csv
import io
import math

SMILES = ["CCO", "c1ccccc1CCC", "N#CCCC", "OC(=O)CC", "CCCCl"]


def _other_levels(service) -> list[str]:
    """Two levels that are not the model's default target levels."""
    served = service.served
    others = [name for name in served.level_names if name not in served.target_levels]
    return others[:2]


def _score(result, levels) -> float:
    return sum(result[f"p_{name}"] for name in levels)


def _probabilities(result) -> dict:
    return {key: value for key, value in result.items() if key.startswith("p_")}


def test_predictions_score_the_requested_levels(service):
    headers = service.auth(service.new_key())
    chosen = _other_levels(service)
    default = service.client.post("/v1/predictions", json={"smiles": SMILES},
                                  headers=headers).json()
    asked = service.client.post("/v1/predictions",
                                json={"smiles": SMILES, "target_levels": [c.upper()
                                                                          for c in chosen]},
                                headers=headers)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["target_levels"] == [n for n in service.served.level_names if n in chosen]
    assert default["target_levels"] == service.served.target_levels
    for plain, rescored in zip(default["results"], body["results"], strict=True):
        assert _probabilities(rescored) == _probabilities(plain)
        # both 6-decimal numbers, as in the CSV: the sum of rounded values is within 1e-6
        assert math.isclose(rescored["rare_score"], _score(rescored, chosen), abs_tol=1e-6)
        assert math.isclose(plain["rare_score"], _score(plain, default["target_levels"]),
                            abs_tol=1e-5)
    assert [r["rare_score"] for r in body["results"]] != [
        r["rare_score"] for r in default["results"]]
    # the stored prediction keeps the model's own score
    stored = service.client.get("/v1/molecules/LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
                                headers=headers).json()["structures"][0]["predictions"][0]
    assert stored["target_levels"] == service.served.target_levels
    assert round(stored["rare_score"], 6) == default["results"][0]["rare_score"]


def test_unknown_or_empty_levels_are_refused_naming_the_valid_ones(service):
    headers = service.auth(service.new_key())
    for levels in (["ultra-blue"], [], [" "]):
        for path in ("/v1/predictions", "/v1/screens"):
            response = service.client.post(path, json={"smiles": ["CCO"],
                                                       "target_levels": levels},
                                           headers=headers)
            assert response.status_code == 422, (path, levels)
            error = response.json()["error"]
            assert error.startswith("target_levels:") and "near-infrared" in error, error
    upload = service.client.post("/v1/screens", files={"file": ("a.smi", b"CCO\n")},
                                 data={"target_levels": "red,ultra-blue"}, headers=headers)
    assert upload.status_code == 422 and "'ultra-blue'" in upload.json()["error"]
    assert service.client.get("/v1/screens", headers=headers).json() == {"screens": []}


def test_screens_rank_by_their_own_levels(service):
    key = service.new_key()
    headers = service.auth(key)
    chosen = _other_levels(service)
    by_json = service.client.post("/v1/screens", json={"smiles": SMILES, "target_levels": chosen},
                                  headers=headers).json()["id"]
    by_upload = service.client.post(
        "/v1/screens", files={"file": ("lib.smi", "\n".join(SMILES).encode())},
        data={"target_levels": ",".join(chosen)}, headers=headers).json()["id"]
    default = service.client.post("/v1/screens", json={"smiles": SMILES},
                                  headers=headers).json()["id"]
    service.drain()
    expected_levels = [n for n in service.served.level_names if n in chosen]
    for screen_id in (by_json, by_upload):
        screen = service.client.get(f"/v1/screens/{screen_id}", headers=headers).json()
        assert screen["target_levels"] == expected_levels
        ranked = service.client.get(f"/v1/screens/{screen_id}/results",
                                    headers=headers).json()["results"]
        scores = [r["rare_score"] for r in ranked]
        assert scores == sorted(scores, reverse=True)
        for row in ranked:
            assert math.isclose(row["rare_score"], _score(row, chosen), abs_tol=1e-6)
        exported = list(csv.DictReader(io.StringIO(service.client.get(
            f"/v1/screens/{screen_id}/results.csv", params={"order": "rare"},
            headers=headers).text)))
        assert [int(r["row"]) for r in exported] == [r["row"] for r in ranked]
    plain = service.client.get(f"/v1/screens/{default}", headers=headers).json()
    assert plain["target_levels"] == service.served.target_levels
    for row in service.client.get(f"/v1/screens/{default}/results",
                                  headers=headers).json()["results"]:
        assert math.isclose(row["rare_score"], _score(row, plain["target_levels"]),
                            abs_tol=1e-5)


def test_an_empty_target_levels_form_field_means_the_default(service):
    headers = service.auth(service.new_key())
    response = service.client.post("/v1/screens", files={"file": ("a.smi", b"CCO\n")},
                                   data={"target_levels": ""}, headers=headers)
    assert response.status_code == 202, response.text
    screen = service.client.get(f"/v1/screens/{response.json()['id']}", headers=headers).json()
    assert screen["target_levels"] == service.served.target_levels
