"""The start page's solvent field in a real browser (Chromium under Playwright, see conftest.py;
skipped without /usr/bin/chromium).

The service here serves a tiny classifier shipped with a tiny solvent-aware model (trained in
toluene, acetonitrile and methanol: ``tests/solvent_use/solvent_models.py``, as
``tests/api/test_api_solvent.py`` serves it); tests parametrised with ``"plain"`` serve
conftest's fixture model, which has none. The field is shown only for the former, its text goes
out as the request's ``solvent``, the result names the solvent and flags one the model was not
trained in, and a solvent the service refuses is explained beside the field.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "solvent_use"))

pytestmark = pytest.mark.slow

NILE_RED = "CCN(CC)c1ccc2nc3c(cc(=O)c4ccccc43)oc2c1"
PLAIN = pytest.mark.parametrize("web_model_dir", ["plain"], indirect=True)


@pytest.fixture(scope="module")
def solvent_model_dir(tmp_path_factory) -> Path:
    """A tiny classifier shipped with a tiny solvent-aware run (a few seconds of training)."""
    from solvent_models import ship_pair, train_classifier, train_solvent_model

    root = tmp_path_factory.mktemp("web-solvent")
    return ship_pair(train_classifier(root), [train_solvent_model(root)], root / "pair")


@pytest.fixture
def web_model_dir(request, web_model_dir, solvent_model_dir) -> Path:
    """The solvent-aware pair; conftest's fixture model when parametrised with ``"plain"``."""
    return web_model_dir if getattr(request, "param", None) == "plain" else solvent_model_dir


@pytest.fixture(scope="module")
def predictors() -> dict:
    return {}


@pytest.fixture
def web_predictor(web_model_dir, predictors):
    """The predictor of ``web_model_dir``, loaded once per folder in this module."""
    from zincfluor.screening import Predictor

    if web_model_dir not in predictors:
        predictors[web_model_dir] = Predictor.load(web_model_dir, device="cpu")
    return predictors[web_model_dir]


def signed_in(page, server):
    """The start page, signed in, once its ready handlers ran (the screens list is filled)."""
    page.goto(server.url + "/")
    page.fill("#api-key", server.key)
    page.click("#sign-in-form button[type=submit]")
    page.locator("#screens tbody tr").first.wait_for()
    return page


def predict(page, smiles: str, solvent: str | None = None) -> dict:
    """Submit the form; returns the JSON body the page sent to POST /v1/predictions."""
    page.fill("#smiles", smiles)
    if solvent is not None:
        page.fill("#solvent", solvent)
    with page.expect_request(lambda r: r.url.endswith("/v1/predictions")) as sent:
        page.press("#smiles", "Enter")
    return sent.value.post_data_json


def no_page_errors(page) -> None:
    assert [e for e in page.errors if "Content Security Policy" in e or "page error" in e] == []


@PLAIN
def test_no_solvent_field_for_a_model_without_a_solvent_aware_model(page, live_server):
    signed_in(page, live_server)
    assert page.locator("#solvent").is_hidden()
    # text left in the hidden field is never sent
    page.evaluate("document.getElementById('solvent').value = 'water'")
    body = predict(page, NILE_RED)
    assert body == {"smiles": [NILE_RED]}
    page.locator("#prediction dl.record").wait_for()
    assert "Solvent" not in page.inner_text("#prediction dl.record")
    assert page.locator("#solvent-error").is_hidden()
    no_page_errors(page)


def test_a_solvent_goes_out_with_the_request_and_the_result_names_it(page, live_server):
    signed_in(page, live_server)
    field = page.get_by_label("Solvent (optional)")
    field.wait_for(state="visible")
    assert page.get_attribute("#solvent", "list") == "solvent-names"
    option = page.locator('#solvent-names option[value="toluene"]')
    assert option.get_attribute("data-smiles") == "Cc1ccccc1"
    assert "DMSO" in page.locator('#solvent-names option[value="dimethyl sulfoxide"]'
                                  ).get_attribute("label")
    help_text = page.inner_text("#solvent-help")
    assert re.search(r"Trained in .*toluene \(\d+ rows\)", help_text), help_text

    assert predict(page, NILE_RED, "PhMe") == {"smiles": [NILE_RED], "solvent": "PhMe"}
    page.locator("#prediction dl.record dd.solvent").wait_for()
    assert page.inner_text("#prediction dd.solvent") == "toluene"
    assert page.get_attribute("#prediction dd.solvent", "title") == "Cc1ccccc1"
    assert page.locator("#prediction .flag-unseen").count() == 0
    assert page.inner_text("#prediction h2").endswith(" in toluene")

    predict(page, NILE_RED, "")  # emptied: the solvent-free answer, no solvent shown
    page.locator("#prediction dl.record").wait_for()
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "() => !document.querySelector('#prediction dd.solvent')")
    assert "Solvent" not in page.inner_text("#prediction dl.record")
    no_page_errors(page)


def test_a_solvent_outside_training_is_flagged_by_name_or_by_smiles(page, live_server):
    signed_in(page, live_server)
    predict(page, NILE_RED, "water")
    flag = page.locator("#prediction dd.solvent .flag-unseen")
    flag.wait_for()
    assert flag.is_visible() and flag.inner_text() == "solvent not seen in training"
    assert page.inner_text("#prediction dd.solvent").startswith("water ")

    predict(page, NILE_RED, "OCCCCCCCCCCCC")  # a SMILES the name table lacks: shown as such
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "() => document.querySelector('#prediction dd.solvent')?.title === ''"
        " && document.querySelector('#prediction dd.solvent').textContent.startsWith('CCC')")
    solvent = page.locator("#prediction dd.solvent")
    assert solvent.inner_text().startswith("CCCCCCCCCCCCO ")
    assert "smiles" in solvent.get_attribute("class")
    assert solvent.locator(".flag-unseen").is_visible()
    no_page_errors(page)


def test_a_refused_solvent_is_explained_beside_the_field(page, live_server):
    signed_in(page, live_server)
    predict(page, NILE_RED, "tolune")
    error = page.locator("#solvent-error")
    error.wait_for(state="visible")
    message = error.inner_text()
    assert message.startswith("solvent: unknown solvent 'tolune'")
    assert "did you mean 'toluene'" in message and "\n" not in message
    assert page.get_attribute("#solvent", "aria-invalid") == "true"
    assert page.locator("#smiles-error").is_hidden()
    assert page.inner_text("#prediction") == ""

    predict(page, NILE_RED, "toluene")  # fixed: the error goes, the answer comes
    page.locator("#prediction dd.solvent").wait_for()
    assert error.is_hidden()
    assert page.get_attribute("#solvent", "aria-invalid") == "false"
    no_page_errors(page)
