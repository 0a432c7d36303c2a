"""The operators' console at ``/``: one HTML page, its modules and the vendored libraries.

The console is static files (``api/static/console``, ``api/static/vendor``) that talk to the same
API as everyone else with the operator's token; nothing here reads the database. Served by the
API process itself, so a closed network needs no other web server and no CDN.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.staticfiles import PathLike
from starlette.types import Scope

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
CONSOLE_DIR: Final = STATIC_DIR / "console"
VENDOR_DIR: Final = STATIC_DIR / "vendor"
# The page and its modules change with every release: the browser asks each time (it gets a
# 304 while nothing changed), so an upgrade never runs yesterday's app.js against today's API.
_REVALIDATE: Final = {"Cache-Control": "no-cache"}


_IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)


def content_security_policy(page: str) -> str:
    """The page's policy: scripts, styles and connections from FireGrid only.

    The browser then refuses any script from elsewhere, whatever a future edit adds. The one
    inline script, the import map, is allowed by its hash. Images may come from anywhere: the
    operator may set a tile URL (the console's map settings).
    """
    found = _IMPORT_MAP.search(page)
    if found is None:
        raise ValueError("the console page has no import map")
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode()
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'sha256-{digest}'",
            # Leaflet and Preact set style attributes: inline styles, never inline scripts.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob: https: http:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


class _RevalidatedFiles(StaticFiles):
    """Static files the browser must revalidate before using its copy."""

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_REVALIDATE)
        return response


def install_console(app: FastAPI) -> None:
    """Serve the console's page at ``/`` and its files under ``/console/`` and ``/vendor/``."""
    app.mount("/console", _RevalidatedFiles(directory=CONSOLE_DIR), name="console")
    app.mount("/vendor", _RevalidatedFiles(directory=VENDOR_DIR), name="vendor")
    page = CONSOLE_DIR / "index.html"
    headers = {
        **_REVALIDATE,
        "Content-Security-Policy": content_security_policy(page.read_text(encoding="utf-8")),
    }

    @app.get("/", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(page, headers=headers)
