"""The live feed's pure parts: fan-out, bounded queues, replay-then-live without loss or double.

The id-order release it relies on is tested in ``test_event_order``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from feed.flows import InMemoryLiveFeed, follow
from feed.models import LiveEvent
from feed.service import to_live
from hazards.models import Hazard, Severity
from infra.eventlog import Event

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def _hazard(hazard_id: int, grid: str) -> Hazard:
    return Hazard(
        id=hazard_id,
        rule_id="smoke",
        kind="smoke_alarm",
        severity=Severity.CRITICAL,
        status="open",
        subject_type="device",
        subject_id="D1",
        key="D1",
        device_id="D1",
        unit_id=None,
        grid_code=grid,
        community_code=grid[:12],
        street_code=grid[:9],
        grid_version=1,
        placement="placed",
        lat=31.2,
        lon=121.5,
        opened_at=T0,
        cleared_at=None,
        acknowledged_at=None,
        acknowledged_by=None,
        occurrences=1,
        episode=1,
        last_value=None,
        detail={},
        flapping=False,
        created_at=T0,
        updated_at=T0,
    )


def _ev(i: int, grid: str = "310115005003007", type_: str = "hazard.opened") -> LiveEvent:
    return LiveEvent(
        id=i,
        type=type_,
        at=T0 + timedelta(seconds=i),
        data={},
        hazard=_hazard(1000 + i, grid),
    )


def _all(_ev: LiveEvent) -> bool:
    return True


async def _take(it: AsyncGenerator[LiveEvent | None, None], n: int) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        ev = await asyncio.wait_for(anext(it), 1.0)
        if ev is not None:
            out.append(ev.id)
    return out


def test_fan_out_filters_and_keeps_order() -> None:
    async def run() -> None:
        feed = InMemoryLiveFeed()
        everyone = follow(feed, after=None, since=None, accept=_all, heartbeat_s=5)
        inside = follow(
            feed,
            after=None,
            since=None,
            accept=lambda e: (
                e.hazard is not None and (e.hazard.grid_code or "").startswith("310115005")
            ),
            heartbeat_s=5,
        )
        await asyncio.sleep(0)
        # follow() subscribes on its first step; start both before publishing.
        first = asyncio.ensure_future(_take(everyone, 3))
        second = asyncio.ensure_future(_take(inside, 2))
        await asyncio.sleep(0.01)
        feed.publish(_ev(1))
        feed.publish(_ev(2, grid="320500001001001"))
        feed.publish(_ev(3))
        assert await first == [1, 2, 3]
        assert await second == [1, 3]
        await everyone.aclose()
        await inside.aclose()
        assert not feed._subs

    asyncio.run(run())


def test_resume_replays_then_goes_live_without_gap_or_double() -> None:
    async def run() -> None:
        feed = InMemoryLiveFeed()
        for i in range(1, 6):
            feed.publish(_ev(i))
        it = follow(feed, after=2, since=None, accept=_all, heartbeat_s=5)
        # The first step subscribes and starts replaying; publish while the replay is running.
        got = [await asyncio.wait_for(anext(it), 1.0)]
        feed.publish(_ev(6))
        feed.publish(_ev(7))
        got += [await asyncio.wait_for(anext(it), 1.0) for _ in range(4)]
        assert [e.id for e in got if e is not None] == [3, 4, 5, 6, 7]
        await it.aclose()

    asyncio.run(run())


def test_since_replays_by_time_and_heartbeat_yields_none() -> None:
    async def run() -> None:
        feed = InMemoryLiveFeed()
        for i in range(1, 5):
            feed.publish(_ev(i))
        it = follow(
            feed, after=None, since=T0 + timedelta(seconds=3), accept=_all, heartbeat_s=0.05
        )
        assert await _take(it, 2) == [3, 4]
        assert await asyncio.wait_for(anext(it), 1.0) is None  # a heartbeat tick
        await it.aclose()

    asyncio.run(run())


def test_slow_subscriber_pages_the_log_and_keeps_up_others_unaffected() -> None:
    async def run() -> None:
        feed = InMemoryLiveFeed()
        slow = follow(feed, after=None, since=None, accept=_all, heartbeat_s=5, maxsize=3)
        fast = follow(feed, after=None, since=None, accept=_all, heartbeat_s=5, maxsize=100)
        slow_first = asyncio.ensure_future(anext(slow))
        fast_all = asyncio.ensure_future(_take(fast, 20))
        await asyncio.sleep(0.01)
        for i in range(1, 21):
            feed.publish(_ev(i))  # never awaits: the slow one cannot block the loop
        assert await fast_all == list(range(1, 21))
        got = await slow_first
        assert got is not None
        assert got.id == 1
        # Its queue held 3 of the rest and it overflowed: the fan-out dropped it (bounded) ...
        assert len(feed._subs) == 1
        # ... but it is not cut off: it reads its queue, pages the gap from the log, goes live.
        assert await _take(slow, 19) == list(range(2, 21))
        assert len(feed._subs) == 2
        feed.publish(_ev(21))
        assert await _take(slow, 1) == [21]
        await slow.aclose()
        await fast.aclose()
        assert not feed._subs

    asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(
    maxsize=st.integers(1, 8),
    bursts=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    reads=st.lists(st.integers(0, 40), min_size=1, max_size=6),
    after=st.one_of(st.none(), st.integers(0, 10)),
)
def test_a_reader_of_any_pace_gets_every_event_once_in_order(
    maxsize: int, bursts: list[int], reads: list[int], after: int | None
) -> None:
    async def run() -> None:
        feed = InMemoryLiveFeed()
        for i in range(1, 11):
            feed.publish(_ev(i))
        it = follow(feed, after=after, since=None, accept=_all, heartbeat_s=0.01, maxsize=maxsize)
        got: list[int] = []
        # Its first step subscribes (and replays, when resuming).
        first = await asyncio.wait_for(anext(it), 1.0)
        if first is not None:
            got.append(first.id)
        for burst, read in zip(bursts, reads, strict=False):
            for _ in range(burst):
                feed.publish(_ev(feed.cursor + 1))
            for _ in range(read):
                ev = await asyncio.wait_for(anext(it), 1.0)
                if ev is None:
                    break
                got.append(ev.id)
        while True:  # drain: the heartbeat says it has caught up
            ev = await asyncio.wait_for(anext(it), 1.0)
            if ev is None:
                break
            got.append(ev.id)
        start = 10 if after is None else after
        assert got == list(range(start + 1, feed.cursor + 1))
        # Memory stays bounded: never more than maxsize queued for it.
        assert all(sub.queue.qsize() <= maxsize for sub in feed._subs)
        await it.aclose()

    asyncio.run(run())


def test_to_live_types_the_hazard_once_and_survives_an_unreadable_one() -> None:
    hazard = _hazard(7, "310115005003007")
    row = hazard.model_dump(mode="json")  # as to_jsonb(h) puts it in the log: times as text
    ev = to_live(Event(1, "hazard.opened", "7", {"hazard": row, "change": {"a": 1}}, T0))
    assert ev.hazard == hazard
    assert ev.data == {"a": 1}
    broken = to_live(Event(2, "hazard.updated", "7", {"hazard": {"id": "x"}}, T0))
    assert broken.hazard is None  # logged; the feed goes on
