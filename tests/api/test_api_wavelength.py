"""A served model with a wavelength head: results carry ``emission_nm``, ``emission_nm_low``
and ``emission_nm_high`` (1 decimal) before ``inchikey``, in JSON and in the CSV, as ``predict``
writes them. This module serves such a model instead of the shared fixture model."""

import csv
import io

import pytest

NM = ["emission_nm", "emission_nm_low", "emission_nm_high"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random one-network model with a Gaussian wavelength head."""
    from api_helpers import write_wavelength_member

    folder = tmp_path_factory.mktemp("wavelength-model")
    write_wavelength_member(folder / "checkpoint.pt")
    return folder


@pytest.fixture(scope="module")
def shared_predictor(model_dir):
    from zincfluor.screening import Predictor

    return Predictor.load(model_dir, device="cpu")


def test_a_wavelength_model_answers_emission_nm_in_json_and_csv(service):
    key = service.new_key()
    assert service.served.predicts_wavelength
    body = service.client.post("/v1/predictions", json={"smiles": ["CCO", "C1CC"]},
                               headers=service.auth(key)).json()
    ok, invalid = body["results"]
    assert list(ok)[-4:] == [*NM, "inchikey"]  # one network: no rare_score_std
    assert ok["emission_nm_low"] < ok["emission_nm"] < ok["emission_nm_high"]
    assert all(round(ok[name], 1) == ok[name] for name in NM)  # 1 decimal, as in the CSV
    assert [invalid[name] for name in NM] == [None] * 3

    created = service.client.post("/v1/screens", json={"smiles": ["CCO", "C1CC"]},
                                  headers=service.auth(key)).json()
    service.drain()
    response = service.client.get(f"/v1/screens/{created['id']}/results.csv",
                                  headers=service.auth(key))
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0][-4:] == [*NM, "inchikey"]
    assert [float(v) for v in table[1][-4:-1]] == [ok[name] for name in NM]
    assert table[2][-4:-1] == ["", "", ""]
    [page] = service.client.get(f"/v1/screens/{created['id']}/results",
                                headers=service.auth(key)).json()["results"]
    assert [page[name] for name in NM] == [ok[name] for name in NM]  # stored with it
