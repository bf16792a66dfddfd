"""``/docs`` works without internet: Swagger UI's files come from the service itself."""

import re

import pytest


@pytest.mark.parametrize("backend", ["sqlite"])  # the database plays no part here
def test_docs_page_loads_only_local_assets(service):
    page = service.client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*'([^']+)'""", page.text)  # the OpenAPI document
    assert len(urls) >= 4, urls
    assert not re.search(r"https?://", page.text), "the page loads something from the web"
    for url in urls:
        assert url.startswith("/"), url
        asset = service.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    script = service.client.get(next(u for u in urls if u.endswith(".js")))
    assert "SwaggerUIBundle" in script.text
    assert "javascript" in script.headers["content-type"]
    assert service.client.get("/redoc").status_code == 404  # would need a CDN: not offered
