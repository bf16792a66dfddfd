"""The web page in a real browser: Debian's Chromium driven by Playwright against a live
uvicorn server with the fixture model (see conftest.py; skipped without /usr/bin/chromium).

Every test also checks that the page asked nothing of any other host (requests elsewhere are
aborted and recorded: the page works with no internet) and broke no content-security rule.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO = REPO_ROOT / "examples" / "demo.smi"


@pytest.fixture
def site(page, live_server):
    """The page, offline but for the live server; yields (page, server, external requests)."""
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_local)
    yield page, live_server, outside
    assert outside == [], f"the page asked other hosts: {outside}"
    violations = [e for e in page.errors if "Content Security Policy" in e or "page error" in e]
    assert violations == []


def sign_in(page, server, key=None):
    page.goto(server.url + "/")
    page.fill("#api-key", key or server.key)
    page.click("#sign-in-form button[type=submit]")


def test_sign_in_refuses_a_bad_key_beside_the_field_then_accepts_a_good_one(site):
    page, server, _ = site
    sign_in(page, server, key="zf_not-a-key")
    error = page.locator("#api-key-error")
    error.wait_for(state="visible")
    assert "refused this key: unknown API key" in error.inner_text()
    assert page.get_attribute("#api-key", "aria-invalid") == "true"
    assert page.evaluate("sessionStorage.getItem('zincfluor.apiKey')") is None
    page.fill("#api-key", server.key)
    page.press("#api-key", "Enter")  # keyboard works as well as the button
    page.locator("#app").wait_for(state="visible")
    assert "test-emission8" in page.inner_text("#signed-in-as")
    assert page.evaluate("sessionStorage.getItem('zincfluor.apiKey')") == server.key
    assert page.evaluate("localStorage.length") == 0  # the key is kept in this tab only
    page.reload()  # still signed in within the tab
    page.locator("#app").wait_for(state="visible")
    page.click("#sign-out")
    page.locator("#sign-in").wait_for(state="visible")
    assert page.evaluate("sessionStorage.getItem('zincfluor.apiKey')") is None


def test_predict_a_pasted_molecule_and_see_a_bad_one_refused_beside_the_field(site):
    page, server, _ = site
    sign_in(page, server)
    page.fill("#smiles", "CCN(CC)c1ccc2ccc(=O)oc2c1")
    page.press("#smiles", "Enter")
    page.locator("#prediction dl.record").wait_for()
    text = page.inner_text("#prediction")
    assert "Status\nok" in text.replace("\t", "\n") or re.search(r"Status\s+ok", text)
    levels = page.locator("#prediction dl.bars meter")
    assert levels.count() == 8
    values = [float(levels.nth(i).get_attribute("value")) for i in range(8)]
    assert sum(values) == pytest.approx(1.0, abs=1e-3)
    assert re.search(r"Rare score\s+0\.\d{3}", text)
    depiction = page.locator("#prediction img.depiction")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=depiction.element_handle())
    assert page.locator("#prediction svg.wavelength-plot rect.bar").count() == 8
    assert page.locator("#smiles-error").is_hidden()

    page.fill("#smiles", "C1CC")
    page.click("#predict-form button[type=submit]")
    error = page.locator("#smiles-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Not a molecule:")
    assert page.get_attribute("#smiles", "aria-invalid") == "true"


def test_draw_a_molecule_in_the_editor_and_predict_it(site):
    page, server, _ = site
    sign_in(page, server)
    page.click("#toggle-editor")
    assert page.get_attribute("#toggle-editor", "aria-expanded") == "true"
    page.frame_locator("#editor-frame").locator("body[data-ready=true]").wait_for()
    page.click("#use-drawing")
    assert "empty" in page.locator("#editor-error").inner_text()
    box = page.locator("#editor-frame").bounding_box()
    # JSME's default tool draws a C-C bond where one clicks on an empty canvas
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.click("#use-drawing")
    page.locator("#prediction dl.record").wait_for()
    assert page.input_value("#smiles") == "CC"
    assert "Prediction for CC" in page.inner_text("#prediction h2")


def test_upload_a_library_see_it_ranked_open_a_molecule_and_download_the_csv(site, tmp_path):
    page, server, _ = site
    sign_in(page, server)
    refused = tmp_path / "library.xyz"
    refused.write_text("CCO\n")
    page.set_input_files("#library", str(refused))
    page.click("#upload-form button[type=submit]")
    error = page.locator("#upload-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("library.xyz:") and ".smi" in error.inner_text()

    page.set_input_files("#library", str(DEMO))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r"/screens/[0-9a-f]{32}$"))
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "() => document.getElementById('screen-status').textContent.startsWith('done')")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length > 0")
    status = page.inner_text("#screen-status")
    total = sum(1 for line in DEMO.read_text().splitlines() if line.strip())
    assert f"of {total} molecules processed" in status
    rows = page.locator("#results tbody tr")
    ranks = [int(rows.nth(i).locator("td").first.inner_text()) for i in range(rows.count())]
    assert ranks == list(range(1, len(ranks) + 1))
    scores = [float(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(rows.count())]
    assert scores == sorted(scores, reverse=True)
    assert rows.first.locator("dl.bars meter").count() == 8
    first_image = rows.first.locator("img.depiction").element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first_image)
    assert "n/a" in rows.first.locator("td").nth(7).inner_text()  # no trust files: no flag

    # filters: a minimum score above every score empties the table; then one level only
    top_level = rows.first.locator("td").nth(3).inner_text().split("\n")[0]
    page.fill("#filter-score", "1")
    page.click("#filters button[type=submit]")
    page.locator("#results-empty").wait_for(state="visible")
    page.fill("#filter-score", "0")
    page.select_option("#filter-level", top_level)
    page.click("#filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length > 0")
    levels = {rows.nth(i).locator("td").nth(3).inner_text().split("\n")[0]
              for i in range(rows.count())}
    assert levels == {top_level}

    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    table = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert len(table) == total and [int(r["row"]) for r in table] == list(range(1, total + 1))
    assert {"rank", "status", "level", "rare_score", "inchikey"} <= set(table[0])

    link = rows.first.locator("td").nth(2).locator("a")
    row = int(link.get_attribute("href").rsplit("/", 1)[1])
    link.click()
    page.wait_for_url(re.compile(rf"/rows/{row}$"))
    page.locator("#explanation dl.record").wait_for()
    assert re.search(rf"Row {row}\b", page.inner_text("#molecule-title"))
    assert page.locator("#explanation dl.bars meter").count() == 8
    assert page.locator("#wavelength-plot svg.wavelength-plot").count() == 1
    images = ["#depiction img"]
    if has_route(server.app, "/v1/screens/{screen_id}/results/{row}"):
        images += ["#attribution img", "#level-attribution img"]
        assert "Atom attributions of the rare score" in page.inner_text("#attribution")
        assert "without trust files" in page.inner_text("#explanation")  # the fixture model's
    for selector in images:
        image = page.locator(selector).element_handle()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)


def has_route(app, path: str) -> bool:
    """Whether the service answers ``path`` (the explanation endpoints came in later)."""
    return path in app.openapi()["paths"]


def test_explain_a_predicted_molecule(site):
    page, server, _ = site
    if not has_route(server.app, "/v1/predictions/explain"):
        pytest.skip("this service has no POST /v1/predictions/explain yet")
    sign_in(page, server)
    page.fill("#smiles", "CCN(CC)c1ccc2ccc(=O)oc2c1")
    page.press("#smiles", "Enter")
    page.click("#explain")
    page.locator("#prediction #attribution img").wait_for()
    image = page.locator("#prediction #attribution img").element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
    assert "explained" in page.inner_text("#prediction h2")


def test_trust_fields_are_shown_and_the_domain_filter_uses_them(site, tmp_path):
    """The fixture model has no trust files, so its result pages are given the trust fields
    on their way to the browser (as a model with trust files and a wavelength head answers
    them): the table shows the set, the 90 % interval and the domain flag, and filters by it."""
    page, server, _ = site
    library = tmp_path / "three.smi"
    library.write_text("c1ccccc1 benzene\nCCN(CC)c1ccc2ccc(=O)oc2c1 c1\nc1ccc2ccccc2c1 naph\n")

    def with_trust(route):
        response = route.fetch()
        body = response.json()
        for i, result in enumerate(body["results"]):
            result.update(prediction_set=[result["level"], "green"], in_domain=i % 2 == 0,
                          nearest_similarity=0.8 - 0.3 * (i % 2), emission_nm=500.0 + i,
                          emission_nm_low=450.0, emission_nm_high=560.0,
                          emission_nm_low_90=430.0, emission_nm_high_90=590.0)
        route.fulfill(response=response, json=body)

    page.route(re.compile(r"/v1/screens/[0-9a-f]{32}/results\?"), with_trust)
    sign_in(page, server)
    page.set_input_files("#library", str(library))
    page.click("#upload-form button[type=submit]")
    page.wait_for_function(
        "() => (document.getElementById('screen-status') || {textContent: ''})"
        ".textContent.startsWith('done')")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 3")
    rows = page.locator("#results tbody tr")
    first = rows.first.locator("td")
    assert "in domain (nearest 0.80)" in first.nth(7).inner_text()
    assert "set: " in first.nth(3).inner_text() and "green" in first.nth(3).inner_text()
    assert first.nth(6).inner_text() == "500 (90 %: 430–590)"
    assert "out of domain (nearest 0.50)" in rows.nth(1).locator("td").nth(7).inner_text()
    assert rows.nth(1).get_attribute("class") == "out-of-domain"
    page.select_option("#filter-domain", "out")
    page.click("#filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    assert "out of domain" in rows.first.locator("td").nth(7).inner_text()
    assert "1 of 3 rows" in page.inner_text("#domain-note")
    page.click("text=← Predict and screen")  # back to the start page: the screen is listed
    listed = page.locator("#screens tbody tr").first
    listed.wait_for()
    assert listed.locator("a").inner_text() == "three.smi"
    assert listed.locator("td").nth(1).inner_text() == "done"
