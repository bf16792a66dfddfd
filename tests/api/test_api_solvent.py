"""A served model folder with a solvent-aware model: ``POST /v1/predictions`` takes an optional
``solvent`` (one for every SMILES), answers those rows from the solvent-aware model (as
``zincfluor predict --solvent`` does, not stored), and every result carries ``solvent`` and
``solvent_seen``. This module serves such a folder instead of the shared fixture model."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "solvent_use"))

NILE_RED = "CCN(CC)c1ccc2nc3c(cc(=O)c4ccccc43)oc2c1"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny classifier shipped with a tiny solvent-aware run (a few seconds of training)."""
    from solvent_models import ship_pair, train_classifier, train_solvent_model

    root = tmp_path_factory.mktemp("solvent-served")
    return ship_pair(train_classifier(root), [train_solvent_model(root)], root / "pair")


@pytest.fixture(scope="module")
def shared_predictor(model_dir):
    from zincfluor.screening import Predictor

    return Predictor.load(model_dir, device="cpu")


def _post(service, key, body):
    return service.client.post("/v1/predictions", json=body, headers=service.auth(key))


@pytest.mark.slow
def test_predictions_in_a_solvent_match_predict_and_carry_the_solvent_fields(
        service, shared_predictor):
    key = service.new_key()
    plain = _post(service, key, {"smiles": [NILE_RED, "C1CC"]}).json()["results"]
    assert plain[0]["solvent"] is None and plain[0]["solvent_seen"] is None
    keys = list(plain[0])
    at = keys.index("canonical_smiles")
    assert keys[at + 1 : at + 3] == ["solvent", "solvent_seen"]

    answers = {}
    for solvent in ("toluene", "water"):
        response = _post(service, key, {"smiles": [NILE_RED, "C1CC"], "solvent": solvent})
        assert response.status_code == 200, response.text
        answers[solvent] = response.json()["results"]
    toluene, water = answers["toluene"][0], answers["water"][0]
    assert (toluene["solvent"], toluene["solvent_seen"]) == ("Cc1ccccc1", True)
    assert (water["solvent"], water["solvent_seen"]) == ("O", False)
    assert toluene["emission_nm"] != water["emission_nm"]
    assert answers["water"][1]["status"] == "invalid" and answers["water"][1]["solvent"] == "O"

    batch = shared_predictor.predict([NILE_RED], solvents=["toluene"])  # what predict writes
    assert toluene["emission_nm"] == round(float(batch.emission_nm[0, 0]), 1)
    assert toluene["rare_score"] == pytest.approx(
        sum(batch.probs[0][i] for i in service.served.target_indices), abs=2e-6)
    # the solvent answer was not stored in place of the solvent-free one
    again = _post(service, key, {"smiles": [NILE_RED]}).json()["results"][0]
    assert again["rare_score"] == plain[0]["rare_score"] and again["solvent"] is None


@pytest.mark.slow
def test_a_bad_solvent_is_one_422_and_screens_take_none(service):
    key = service.new_key()
    response = _post(service, key, {"smiles": [NILE_RED], "solvent": "tolune"})
    assert response.status_code == 422
    message = response.json()["error"]
    assert message.startswith("solvent: unknown solvent 'tolune'")
    assert "did you mean 'toluene'" in message and "GET /v1/models" in message
    created = service.client.post("/v1/screens", json={"smiles": [NILE_RED],
                                                       "solvent": "water"},
                                  headers=service.auth(key))
    assert created.status_code == 422 and "screens do not take a solvent" in created.text


@pytest.mark.slow
def test_the_document_offers_solvent_for_predictions_only(service):
    schemas = service.client.get("/openapi.json").json()["components"]["schemas"]
    assert "solvent" in schemas["PredictionsRequest"]["properties"]
    assert "solvent" not in schemas["ScreenRequest"]["properties"]
    assert {"solvent", "solvent_seen"} <= set(schemas["MoleculeResult"]["properties"])
    key = service.new_key()
    blank = _post(service, key, {"smiles": [NILE_RED], "solvent": " "}).json()["results"][0]
    assert blank["solvent"] is None and blank["emission_nm"] is None  # blank: no solvent
