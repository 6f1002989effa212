"""The browser pages and their assets, served from the package, against a FakeEngine."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fauxpilot.api import create_app
from fauxpilot.api.config import ApiConfig

from .fakes import FakeEngine

KEY = "sk-web-test-0123456789"


@pytest.fixture
def keyed(engine: FakeEngine) -> Iterator[TestClient]:
    app = create_app(engine, "fake", config=ApiConfig(api_keys=(KEY,)))
    with TestClient(app) as test_client:
        yield test_client


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


def test_docs_loads_every_asset_from_the_server_itself(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = _asset_urls(page.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    assert all(url.startswith("/") for url in urls), f"an asset from elsewhere: {urls}"
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
    assert client.get("/openapi.json").json()["paths"]["/v1/completions"]


@pytest.mark.parametrize("page", ["/", "/dashboard"])
def test_the_playground_and_dashboard_load_their_assets_from_the_server(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    urls = _asset_urls(response.text)
    scripts = [url for url in urls if url.endswith(".js")]
    assert scripts, "the page runs no script"
    assert all(url.startswith("/") for url in urls), f"an asset from elsewhere: {urls}"
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url


def test_the_bundle_carries_its_licences(client: TestClient) -> None:
    notices = client.get("/static/pages/THIRD_PARTY_LICENSES.txt")
    assert notices.status_code == 200
    assert "@codemirror/view" in notices.text and "MIT License" in notices.text


def test_pages_open_without_a_key_but_data_does_not(keyed: TestClient) -> None:
    assert keyed.get("/").status_code == 200
    assert keyed.get("/dashboard").status_code == 200
    assert keyed.get("/static/pages/playground.js").status_code == 200
    assert keyed.get("/v1/dashboard").status_code == 401
    assert keyed.post("/v1/events", json={"type": "view", "completion_id": "c"}).status_code == 401
    assert keyed.get("/docs").status_code == 200
    assert keyed.get("/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert keyed.get("/v1/models").status_code == 401
    assert keyed.get("/static/../../api/app.py").status_code in (401, 404)
