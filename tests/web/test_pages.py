"""The web page's routes under the TestClient: pages render, headers, static files, depictions,
and no external URL anywhere in what the page loads."""

from __future__ import annotations

import re

import pytest

from api.web.depict import DepictionError, depict_svg
from api.web.routes import (
    CONTENT_SECURITY_POLICY,
    EDITOR_CONTENT_SECURITY_POLICY,
    STATIC_DIR,
    TEMPLATE_DIR,
)

SCREEN_ID = "0" * 32
URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\b(?:https?|ftp):""")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
# JSME's vendored code names these as links a user may follow (help, licences) or as XML
# namespaces: nothing the page loads (the browser tests check that no request leaves the host)
JSME_LINKS = {
    SVG_NAMESPACE, "https://jsme-editor.github.io/help.html", "https://jsme-editor.github.io/",
    "http://www.google.com/search", "http://www.ch.ic.ac.uk/chemime/",
    "http://www.apache.org/licenses/", "https://kripken.github.io/emscripten-site/index.html",
    "https://github.com/Actelion/openchemlib/blob/master/LICENSE", "http://www.inchi-trust.org/",
}
PAGES = ["/", f"/screens/{SCREEN_ID}", f"/screens/{SCREEN_ID}/rows/3"]


def _own_files():
    """Every template and static file of the page, JSME's vendored files excepted."""
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file() and "jsme" not in p.parts]
    return files + sorted(TEMPLATE_DIR.glob("*.html"))


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_the_content_security_policy(web_app, path):
    app, client, _ = web_app
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    html = response.text
    assert '<html lang="en">' in html and 'id="sign-in-form"' in html
    assert '<label for="api-key">' in html and "test-emission8" in html
    assert "<script>" not in html and " style=" not in html  # nothing inline: CSP forbids it
    assert URL.findall(html) == []


def test_content_security_policy_allows_only_self():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "connect-src", "font-src"):
        assert directives[name] == "'self'", name
    assert directives["img-src"] == "'self' blob:"  # depictions fetched by the page's script
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY


def test_editor_frame_has_its_own_policy(web_app):
    _, client, _ = web_app
    response = client.get("/editor")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == EDITOR_CONTENT_SECURITY_POLICY
    assert "/static/jsme/jsme.nocache.js" in response.text
    assert "http" not in EDITOR_CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'self'" in EDITOR_CONTENT_SECURITY_POLICY


def test_screen_page_names_its_screen_and_molecule_page_its_row(web_app):
    _, client, _ = web_app
    assert f'data-screen-id="{SCREEN_ID}"' in client.get(f"/screens/{SCREEN_ID}").text
    html = client.get(f"/screens/{SCREEN_ID}/rows/3").text
    assert 'data-row="3"' in html and f'href="/screens/{SCREEN_ID}"' in html


@pytest.mark.parametrize("path, message", [
    ("/screens/xyz", "path.screen_id: 'xyz' is not a screen id"),
    (f"/screens/{SCREEN_ID}/rows/0", "path.row: 0 is not a row number"),
])
def test_bad_page_paths_are_one_line_errors(web_app, path, message):
    _, client, _ = web_app
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"].startswith(message)


def test_no_external_urls_in_the_page_files():
    # explain.js shows a neighbour's DOI reference as a doi.org link the user may follow
    for path in _own_files():
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        text = text.replace(r"/^https:\/\/doi\.org\//", "").replace('"https://doi.org/"', "")
        found = URL.findall(text)
        assert found == [], f"{path.name}: {found}"


def test_vendored_editor_names_no_other_urls():
    for path in (STATIC_DIR / "jsme").rglob("*"):
        if path.suffix in (".js", ".css", ".html"):
            text = path.read_text(encoding="utf-8", errors="replace")
            found = set(re.findall(r"https?://[A-Za-z0-9./_-]+", text)) - JSME_LINKS
            assert found == set(), f"{path.name}: {found}"
    assert "Redistribution and use in source and binary forms" in (
        STATIC_DIR / "jsme" / "license.txt").read_text()  # the 3-clause BSD licence ships


@pytest.mark.parametrize("name, media_type", [
    ("app.css", "text/css"), ("common.js", "text/javascript"), ("favicon.svg", "image/svg+xml"),
    ("jsme/jsme.nocache.js", "text/javascript"),
])
def test_static_files_are_served_with_the_policy(web_app, name, media_type):
    _, client, _ = web_app
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.content == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize("name", ["../routes.py", "..%2Froutes.py", "nothing.js", "jsme"])
def test_static_refuses_paths_outside_or_missing(web_app, name):
    _, client, _ = web_app
    assert client.get(f"/static/{name}").status_code == 404


def test_every_script_and_style_a_template_names_exists():
    for template in TEMPLATE_DIR.glob("*.html"):
        for name in re.findall(r'(?:src|href)="/static/([^"]+)"', template.read_text()):
            assert (STATIC_DIR / name).is_file(), f"{template.name} names missing {name}"


def test_depiction_needs_a_key_and_draws_svg(web_app):
    _, client, key = web_app
    query = {"smiles": "c1ccc2ccccc2c1", "width": 200, "height": 150}
    assert client.get("/web/depict.svg", params=query).status_code == 401
    response = client.get("/web/depict.svg", params=query,
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "private, max-age=86400"
    assert response.text.lstrip().startswith("<?xml") and "width='200px'" in response.text


def test_depiction_of_a_bad_smiles_is_a_one_line_422(web_app):
    _, client, key = web_app
    response = client.get("/web/depict.svg", params={"smiles": "C1CC"},
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422
    assert response.json() == {"error": "smiles: RDKit cannot read 'C1CC'; send a valid SMILES",
                               "code": "invalid_smiles"}
    too_wide = client.get("/web/depict.svg", params={"smiles": "CC", "width": 5000},
                          headers={"Authorization": f"Bearer {key}"})
    assert too_wide.status_code == 422


def test_depictions_are_cached():
    first = depict_svg("CCO", 100, 80)
    assert depict_svg("CCO", 100, 80) is first
    assert depict_svg("CCO", 120, 80) != first
    with pytest.raises(DepictionError, match="width: 10 is outside"):
        depict_svg("CCO", 10, 80)


def test_the_api_still_answers_json_beside_the_pages(web_app):
    _, client, key = web_app
    assert client.get("/v1/models").status_code == 401
    models = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json()
    assert models["models"][0]["name"] == "test-emission8"
    assert client.get("/openapi.json").json()["paths"].get("/") is None  # pages stay out of it
