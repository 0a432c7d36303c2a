"""The operators' console at ``/``: one HTML page, its modules and the vendored libraries.

The console is static files (``api/static/console``, ``api/static/vendor``) that talk to the same
API as everyone else with the operator's token; nothing here reads the database. Served by the
API process itself, so a closed network needs no other web server and no CDN.
"""

from __future__ import annotations

import os
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

    @app.get("/", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "index.html", headers=_REVALIDATE)
