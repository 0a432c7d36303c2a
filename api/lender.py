"""Lend requests the pool's connections, one each, waiting for a free one on the event loop.

Waiting in ``pool.getconn`` would park a worker thread per waiting request. With more
requests than the pool has connections, the waiting ones take every worker thread, and the
requests holding connections get none to run on: the pool is full, nothing returns to it, and
every request times out (50 concurrent requests against a pool of 4, before this module).
So requests queue on an asyncio semaphore with the pool's size, holding no thread, and only a
request sure of a connection goes to a thread to take it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool

from infra.database import Conn, Pool


def _rollback_quietly(conn: Conn) -> None:
    # The connection may be why we are here (the server gone): the pool discards a broken one.
    with contextlib.suppress(psycopg.Error):
        conn.rollback()


class ConnectionLender:
    """One per app and event loop: lends connections of ``pool`` to requests."""

    def __init__(self, pool: Pool, *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(pool.max_size)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """Lend a connection; commit when the block ends, roll back if it raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolTimeout(
                f"no database connection came free in {self._timeout_s:g} s"
            ) from None
        try:
            # Within the same time budget: a slot is a connection unless the database is away
            # (the pool cannot make one) or another user of the pool (/healthz) holds it.
            remaining = max(deadline - loop.time(), 0.05)
            conn = await run_in_threadpool(self._pool.getconn, remaining)
            try:
                yield conn
                await run_in_threadpool(conn.commit)
            except BaseException:
                await run_in_threadpool(_rollback_quietly, conn)
                raise
            finally:
                await run_in_threadpool(self._pool.putconn, conn)
        finally:
            self._slots.release()
