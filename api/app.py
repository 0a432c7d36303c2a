"""The FastAPI application: REST under /api/v1, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from api.errors import install_handlers
from api.routes import devices, grids, hazards, patrols, rejected, system, terminals
from api.routes import stream as stream_routes
from devices.config import DeviceStatusSettings
from feed.flows import PgLiveFeed


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Every time the API prints is UTC (CONTRACT §4), whatever the server's TimeZone.
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


def create_app(
    *,
    db_url: str,
    broker_probe: Callable[[], bool],
    status_settings: DeviceStatusSettings | None = None,
    pool_size: int = 8,
) -> FastAPI:
    """Build the app; its connection pool opens and closes with the app's lifespan."""
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        db_url,
        min_size=1,
        max_size=pool_size,
        open=False,
        configure=_configure,
        name="api",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)
        # The live feed needs a running event loop, so it is built here, one per process.
        app.state.live_feed = live_feed = PgLiveFeed(db_url)
        await live_feed.start()
        try:
            yield
        finally:
            await live_feed.stop()
            pool.close()

    app = FastAPI(title="FireGrid", version="1", lifespan=lifespan)
    app.state.pool = pool
    app.state.db_url = db_url  # for work that needs its own connection (rejected replay)
    app.state.token_cache = {}
    app.state.broker_probe = broker_probe
    app.state.status_settings = status_settings or DeviceStatusSettings()
    install_handlers(app)
    app.include_router(system.router)
    app.include_router(devices.router)
    app.include_router(rejected.router)
    app.include_router(grids.router)
    app.include_router(patrols.router)
    app.include_router(terminals.router)
    app.include_router(hazards.router)
    app.include_router(stream_routes.router)
    return app
