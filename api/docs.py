"""The API's documentation pages, /docs and /redoc, served from vendored assets (no internet).

The JavaScript and CSS are copied from npm by ``scripts/vendor-js`` into ``api/static``; FastAPI's
defaults would load them from a CDN, which an installation on a closed network cannot reach.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PREFIX = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve the vendored assets and the /docs and /redoc pages that load only them."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PREFIX}/swagger-ui/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PREFIX}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PREFIX}/swagger-ui/favicon-32x32.png",
            # Google Fonts is another CDN; the page falls back to the browser's fonts.
            with_google_fonts=False,
        )
