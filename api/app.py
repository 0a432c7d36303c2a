"""The FastAPI application: REST under /api/v1, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.docs import install_docs
from api.errors import install_handlers
from api.lender import ConnectionLender
from api.middleware import RequestContext
from api.query_check import reject_unknown_query
from api.routes import (
    cases,
    console,
    devices,
    gateway,
    grids,
    hazards,
    indicators,
    patrols,
    public,
    rejected,
    system,
    terminals,
    webhooks,
)
from api.routes import stream as stream_routes
from api.routes.console_page import install_console
from api.settings import ApiSettings
from dispatch.models import Deadlines
from dispatch.wallclock import WallClockDeadlines
from feed.flows import PgLiveFeed
from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import open_pool


def create_app(
    settings: ApiSettings,
    *,
    broker_probe: Callable[[], bool],
    clock: Clock = SYSTEM_CLOCK,
    deadlines: Deadlines | None = None,
) -> FastAPI:
    """Build the app; its connection pool opens and closes with the app's lifespan.

    ``deadlines`` times the stages of case actions (default: wall clock, until the working-time
    table is wired in by the composition root).
    """
    db_url = settings.db_url.get_secret_value()
    limits = settings.limits
    pool = open_pool(db_url, name="api", max_size=limits.pool_size, timeout_s=limits.pool_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)
        # Made here: its semaphore belongs to the event loop that serves the requests.
        app.state.lender = ConnectionLender(pool, timeout_s=limits.pool_timeout_s)
        # The live feed needs a running event loop, so it is built here, one per process.
        app.state.live_feed = live_feed = PgLiveFeed(db_url)
        await live_feed.start()
        try:
            yield
        finally:
            await live_feed.stop()
            pool.close()

    # /docs and /redoc come from api.docs: local assets, not a CDN.
    # Every route refuses query parameters it does not declare (api.query_check).
    app = FastAPI(
        title="FireGrid",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.deadlines = deadlines or WallClockDeadlines()
    app.state.pool = pool
    app.state.broker_probe = broker_probe
    app.state.public_limiters = public.PublicLimiters.from_limits(limits.public)
    install_handlers(app, retry_after_s=limits.retry_after_s)
    install_docs(app)
    install_console(app)
    app.add_middleware(
        RequestContext,
        max_body_bytes=limits.max_body_bytes,
        max_import_bytes=limits.max_import_bytes,
        max_public_report_bytes=limits.public.max_report_bytes,
    )
    app.include_router(system.router)
    app.include_router(console.router)
    app.include_router(devices.router)
    app.include_router(rejected.router)
    app.include_router(gateway.router)
    app.include_router(grids.router)
    app.include_router(patrols.router)
    app.include_router(terminals.router)
    app.include_router(hazards.router)
    app.include_router(cases.router)
    app.include_router(indicators.router)
    app.include_router(stream_routes.router)
    app.include_router(webhooks.router)
    app.include_router(public.router)
    return app
