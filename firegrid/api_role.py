"""The API as a role: uvicorn in a thread of its own, so the supervisor watches it like the rest.

uvicorn installs no signal handlers outside the main thread; the main thread keeps them and
stops every role, this one included, on SIGTERM or SIGINT.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from api.routes.stream import close_streams
from infra.roles import RoleHealth

__all__ = ["ApiRole", "StreamClosingServer"]


class StreamClosingServer(uvicorn.Server):
    """uvicorn that ends the app's live-feed streams before waiting for its connections."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the streams first: uvicorn would otherwise wait, then cancel them (a traceback)."""
        close_streams(self._app)
        await super().shutdown(sockets)


class ApiRole:
    """Serves the app built by ``app_factory`` (a fresh app on every start) on host:port."""

    name = "api"

    def __init__(self, app_factory: Callable[[], FastAPI], *, host: str, port: int) -> None:
        self._app_factory = app_factory
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._failure = ""

    def start(self) -> None:
        """Build the app and serve it from a thread."""
        # Live-feed responses never end by themselves: without a bound on the graceful shutdown,
        # one open console would keep `firegrid up` from stopping on SIGTERM.
        app = self._app_factory()
        config = uvicorn.Config(
            app,
            host=self._host,
            port=self._port,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._server = server = StreamClosingServer(config, app)
        self._thread = threading.Thread(target=self._serve, args=(server,), name="api", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to shut down and wait for it."""
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _serve(self, server: uvicorn.Server) -> None:
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind: not ours to end
            self._failure = f"uvicorn exited ({exc.code}), e.g. the port is taken"

    def health(self) -> RoleHealth:
        """Return running once uvicorn listens; failed when its thread ended (e.g. port taken)."""
        where = f"http://{self._host}:{self._port}"
        if self._stopped:
            return RoleHealth("stopped")
        if self._thread is not None and self._thread.ident and not self._thread.is_alive():
            return RoleHealth(
                "failed", None, f"the server on {where} ended {self._failure}".strip()
            )
        if self._server is None or not self._server.started:
            return RoleHealth("starting", None, where)
        return RoleHealth("running", None, where)
