"""The service with a model that has trust files: trust fields in every record (predictions,
result pages, CSV), and the per-molecule routes with neighbours, attributions and drawings
(``GET /v1/screens/{id}/results/{row}``, ``POST /v1/predictions/explain``), owner-scoped."""

import csv
import io

import pytest
from api_helpers import bearer_header, served_test_client
from rdkit import Chem
from trust_fixtures import plain_model, trust_data, trusted_model  # noqa: F401

pytestmark = pytest.mark.slow  # the fixture model trains for 2 epochs once per session

DOI_LINK = "https://doi.org/10.1021/test.0001"


@pytest.fixture
def client(sqlite_template, trusted_model, tmp_path):  # noqa: F811
    """A TestClient of an app serving the trusted fixture model on a fresh SQLite database,
    with helpers to make keys and run the queue."""
    yield from served_test_client(sqlite_template, trusted_model, tmp_path)


def _drain(client):
    from api.jobs import ChunkWorker

    state = client.app.state.zincfluor
    worker = ChunkWorker(state.served, state.sessions, lease_seconds=30.0, max_attempts=3,
                         name="trust-test")
    while worker.run_once():
        pass


def _training(client) -> str:
    return client.app.state.zincfluor.served.predictor.trust.reference_set.smiles[0]


def test_predictions_carry_the_trust_fields_of_the_command_line(client):
    key = bearer_header(client)
    smiles = [_training(client), "c1ccc2cc3ccccc3cc2c1", "C1CC"]
    response = client.post("/v1/predictions", json={"smiles": smiles}, headers=key)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    fields = list(results[0])
    at = fields.index("p_near-infrared")
    assert fields[at + 1: at + 4] == ["prediction_set", "nearest_similarity", "in_domain"]
    assert results[0]["nearest_similarity"] == 1.0 and results[0]["in_domain"] is True
    assert results[0]["level"] in results[0]["prediction_set"]
    assert results[2]["status"] == "invalid" and results[2]["prediction_set"] is None
    predictor = client.app.state.zincfluor.served.predictor
    batch = predictor.predict(smiles[:2])
    for i in range(2):
        expected = batch.trust.values(i, predictor.level_names)
        assert results[i]["prediction_set"] == list(expected.prediction_set)
        assert results[i]["nearest_similarity"] == round(expected.nearest_similarity, 3)
        assert results[i]["in_domain"] is expected.in_domain


def _screen(client, key, smiles):
    response = client.post("/v1/screens", json={"smiles": smiles}, headers=key)
    assert response.status_code == 202, response.text
    _drain(client)
    return response.json()["id"]


def test_screen_row_route_explains_one_row(client):
    key = bearer_header(client)
    training = _training(client)
    screen_id = _screen(client, key, [training, "C1CC", "CCO"])
    page = client.get(f"/v1/screens/{screen_id}/results", params={"order": "input"},
                      headers=key).json()["results"]
    assert [r["in_domain"] for r in page][:2] == [True, None]
    table = list(csv.reader(io.StringIO(
        client.get(f"/v1/screens/{screen_id}/results.csv", headers=key).text)))
    assert "prediction_set" in table[0] and "in_domain" in table[0]
    assert table[1][table[0].index("in_domain")] == "true"

    response = client.get(f"/v1/screens/{screen_id}/results/1", headers=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["screen_id"] == screen_id and body["result"] == page[0]
    neighbours = body["neighbours"]
    assert len(neighbours) == 3 and neighbours[0]["smiles"] == training
    assert neighbours[0]["similarity"] == 1.0 and neighbours[0]["references"] == [DOI_LINK]
    assert {"smiles", "similarity", "emission_nm", "level", "level_index", "references"} == \
        set(neighbours[0])
    atoms = body["attributions"]["atoms"]
    assert len(atoms) == Chem.MolFromSmiles(page[0]["canonical_smiles"]).GetNumAtoms()
    assert body["attributions"]["level"]["levels"] == [page[0]["level"]]
    for name in ("depiction_svg", "attribution_svg", "level_attribution_svg"):
        assert "</svg>" in body[name]

    invalid = client.get(f"/v1/screens/{screen_id}/results/2", headers=key).json()
    assert invalid["result"]["status"] == "invalid"
    assert invalid["neighbours"] is None and invalid["attributions"] is None
    assert client.get(f"/v1/screens/{screen_id}/results/4", headers=key).status_code == 404
    assert client.get(f"/v1/screens/{screen_id}/results/0", headers=key).status_code == 422
    other = bearer_header(client, "other")
    assert client.get(f"/v1/screens/{screen_id}/results/1", headers=other).status_code == 404


def test_explain_route_predicts_and_explains_one_smiles(client):
    key = bearer_header(client)
    response = client.post("/v1/predictions/explain",
                           json={"smiles": _training(client), "id": 7}, headers=key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["screen_id"] is None and body["result"]["input"] == {
        "smiles": _training(client), "id": "7"}
    assert body["result"]["row"] == 1 and body["result"]["in_domain"] is True
    assert len(body["neighbours"]) == 3 and body["attributions"]["atoms"]
    assert "</svg>" in body["attribution_svg"]
    invalid = client.post("/v1/predictions/explain", json={"smiles": "C1CC"}, headers=key)
    assert invalid.status_code == 200
    assert invalid.json()["result"]["status"] == "invalid"
    assert invalid.json()["attributions"] is None and invalid.json()["depiction_svg"] is None
    assert client.post("/v1/predictions/explain", json={"smiles": "CCO", "x": 1},
                       headers=key).status_code == 422
    assert client.post("/v1/predictions/explain", json={"smiles": "CCO"}).status_code == 401
