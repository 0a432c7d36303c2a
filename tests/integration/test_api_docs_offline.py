"""/docs and /redoc load only FireGrid's own vendored assets, and those assets are served."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.docs import STATIC_DIR

# Any src="..." or href="..." in the page, and any absolute URL written anywhere in it.
_ATTR_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_ABSOLUTE = re.compile(r"""https?://[^\s"'<>)]+""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_reference_only_local_urls_that_are_served(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    html = answer.text
    assert _ABSOLUTE.findall(html) == []
    urls = _ATTR_URL.findall(html)
    assert urls, "the page loads its assets"
    for url in urls:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.content


def test_both_pages_point_at_the_openapi_document(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        assert "/openapi.json" in client.get(page).text
    assert client.get("/openapi.json").status_code == 200


def test_vendored_licenses_are_kept() -> None:
    for folder in ("swagger-ui", "redoc"):
        assert (STATIC_DIR / folder / "LICENSE.txt").read_text().strip()
    assert "swagger-ui-dist" in (STATIC_DIR / "VERSIONS.txt").read_text()
