"""The live feed's pure parts: fan-out, bounded queues, replay-then-live without loss or double,
and the sequencer that releases out-of-order commits in id order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.live import InMemoryLiveFeed, LiveEvent, SubscriberTooSlowError, follow
from api.live_sequencer import Sequencer

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def _ev(i: int, grid: str = "310115005003007", type_: str = "hazard.opened") -> LiveEvent:
    return LiveEvent(
        id=i,
        type=type_,
        at=T0 + timedelta(seconds=i),
        data={},
        row={"id": 1000 + i, "grid_code": grid},
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
            accept=lambda e: e.row["grid_code"].startswith("310115005"),
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


def test_slow_subscriber_is_dropped_and_others_unaffected() -> None:
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
        # Its queue held 3 of the rest; the 4th overflowed it and it was dropped (bounded).
        assert len(feed._subs) == 1
        with pytest.raises(SubscriberTooSlowError):
            await asyncio.wait_for(anext(slow), 1.0)
        # Resuming from the last id it got loses nothing.
        again = follow(feed, after=got.id, since=None, accept=_all, heartbeat_s=5)
        assert await _take(again, 19) == list(range(2, 21))
        await again.aclose()
        await fast.aclose()

    asyncio.run(run())


def _seq_events(ids: list[int]) -> list[LiveEvent]:
    return [_ev(i) for i in sorted(ids)]


def test_sequencer_holds_back_past_a_gap_until_it_fills() -> None:
    seq = Sequencer(10)
    # 12 committed before 11: hold it back.
    assert seq.release(_seq_events([12]), snapshot="s1", now=0.0, settled=()) == []
    assert seq.cursor == 10
    assert set(seq.pending) == {11}
    # Still in flight on the next look: keep holding.
    assert seq.release(_seq_events([12]), snapshot="s2", now=0.1, settled=()) == []
    # 11 commits: both go, in order.
    out = seq.release(_seq_events([11, 12]), snapshot="s3", now=0.2, settled=())
    assert [e.id for e in out] == [11, 12]
    assert seq.cursor == 12
    assert not seq.pending
    assert not seq.holes


def test_sequencer_skips_a_settled_gap_and_delivers_it_late_if_it_appears() -> None:
    seq = Sequencer(10)
    assert seq.release(_seq_events([13]), snapshot="s1", now=0.0, settled=()) == []
    # Everything in flight at s1 ended and 11, 12 are still missing: rolled back.
    out = seq.release(_seq_events([13]), snapshot="s2", now=0.05, settled={"s1"})
    assert [e.id for e in out] == [13]
    assert set(seq.holes) == {11, 12}
    # A hole that shows up after all (a writer past max_wait) is late, not lost, and only once.
    out = seq.release(_seq_events([12, 14]), snapshot="s3", now=0.1, settled=())
    assert [e.id for e in out] == [12, 14]
    assert set(seq.holes) == {11}
    assert seq.release(_seq_events([12]), snapshot="s4", now=0.2, settled=()) == []


def test_sequencer_gives_up_after_max_wait_and_forgets_old_holes() -> None:
    seq = Sequencer(0, max_wait=5.0, hole_ttl=60.0)
    assert seq.release(_seq_events([2]), snapshot="s", now=0.0, settled=()) == []
    assert seq.release(_seq_events([2]), snapshot="s", now=4.9, settled=()) == []
    assert [e.id for e in seq.release(_seq_events([2]), snapshot="s", now=5.0, settled=())] == [2]
    assert set(seq.holes) == {1}
    seq.release([], snapshot="s", now=65.0, settled=())
    assert not seq.holes


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(list(range(1, 13))),
    rolled_back=st.sets(st.integers(1, 12), max_size=4),
)
def test_sequencer_releases_every_committed_id_once_in_order(
    order: list[int], rolled_back: set[int]
) -> None:
    """Commits arrive in any order; once all writers ended, every committed id was released
    exactly once and, except none here (no max_wait expiry), in increasing order."""
    seq = Sequencer(0, max_wait=1e9)
    committed: list[int] = []
    released: list[int] = []
    now = 0.0
    for i in order:
        if i in rolled_back:
            continue
        committed.append(i)
        now += 1.0
        # Writers of ids not yet committed are still in flight: nothing is settled.
        released += [
            e.id
            for e in seq.release(_seq_events(committed), snapshot=f"s{now}", now=now, settled=())
        ]
    # All writers have ended: every snapshot is settled (a pass may uncover the next gap).
    for _ in range(len(order)):
        snaps = {s for _, s in seq.pending.values()}
        released += [
            e.id
            for e in seq.release(_seq_events(committed), snapshot="end", now=now, settled=snaps)
        ]
    assert released == sorted(committed)
    assert not seq.pending
