"""The API's shutdown never waits for ever on the live feed's reader.

psycopg can lose a task's cancellation inside a connect or a query (psycopg#1345, #1371): it
either turns it into its own error or never delivers it. Both are played here by a reader that
does exactly that, on a feed otherwise real (the database's listener and replay pool)."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest

from feed.flows import PgLiveFeed


class _CancelAsError(PgLiveFeed):
    """A reader whose cancellation comes back as a psycopg error."""

    async def _follow(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise psycopg.OperationalError("connection attempt cancelled") from None


class _CancelLost(PgLiveFeed):
    """A reader whose cancellation is lost: its read goes on, and returns 8 s later."""

    async def _follow(self) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(8)


def _stop_time(feed: PgLiveFeed) -> float:
    async def run() -> float:
        await feed.start()
        await asyncio.sleep(0.1)  # the reader is in its (endless) read
        began = time.monotonic()
        await feed.stop()
        return time.monotonic() - began

    return asyncio.run(run())


def test_a_cancellation_turned_into_a_database_error_still_stops_the_reader(db_url: str) -> None:
    # The reader ends by its stop flag at once: no retry loop after stop.
    assert _stop_time(_CancelAsError(db_url)) < 1.0


def test_a_lost_cancellation_holds_shutdown_a_few_seconds_only(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="feed.flows"):
        waited = _stop_time(_CancelLost(db_url))
    assert 4.0 < waited < 8.0
    assert any("still running" in r.getMessage() for r in caplog.records)
