"""``infra.eventorder.Sequencer``: log ids released strictly in order, though they commit out of
order; a gap waits until it is settled (durable consumers: however long), the live feed's
backstop skips a stuck one and delivers it late."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from infra.eventorder import Sequencer


@dataclass(frozen=True)
class Ev:
    id: int


def _evs(ids: list[int]) -> list[Ev]:
    return [Ev(i) for i in sorted(ids)]


def _ids(evs: list[Ev]) -> list[int]:
    return [e.id for e in evs]


def test_holds_back_past_a_gap_until_it_fills() -> None:
    seq = Sequencer(10)
    # 12 committed before 11: hold it back.
    assert seq.release(_evs([12]), snapshot="s1", now=0.0, settled=()) == []
    assert seq.cursor == 10
    assert set(seq.pending) == {11}
    assert seq.snapshots() == {"s1"}
    assert seq.next_check() is not None
    # Still in flight on the next look: keep holding.
    assert seq.release(_evs([12]), snapshot="s2", now=0.1, settled=()) == []
    # 11 commits: both go, in order.
    assert _ids(seq.release(_evs([11, 12]), snapshot="s3", now=0.2, settled=())) == [11, 12]
    assert seq.cursor == 12
    assert not seq.pending
    assert seq.next_check() is None


def test_a_settled_gap_is_skipped_for_good() -> None:
    seq = Sequencer(10)
    assert seq.release(_evs([13]), snapshot="s1", now=0.0, settled=()) == []
    # Every appender in flight at s1 ended and 11, 12 are still missing: rolled back.
    assert _ids(seq.release(_evs([13]), snapshot="s2", now=0.05, settled={"s1"})) == [13]
    assert not seq.holes  # rolled back, so never to be delivered: nothing to remember


def test_a_gap_is_settled_only_by_a_snapshot_it_was_seen_missing_in() -> None:
    seq = Sequencer(10)
    # First sight of the gap: an older settled snapshot says nothing about its writer.
    assert seq.release(_evs([12]), snapshot="s2", now=0.0, settled={"s1"}) == []
    assert set(seq.pending) == {11}


def test_a_durable_reader_waits_however_long() -> None:
    seq = Sequencer(0)  # no max_wait
    assert seq.release(_evs([2]), snapshot="s", now=0.0, settled=()) == []
    assert seq.release(_evs([2]), snapshot="s", now=1e9, settled=()) == []
    assert seq.cursor == 0


def test_the_backstop_skips_after_max_wait_and_delivers_late() -> None:
    seq = Sequencer(0, max_wait=5.0, hole_ttl=60.0)
    assert seq.release(_evs([2]), snapshot="s", now=0.0, settled=()) == []
    assert seq.release(_evs([2]), snapshot="s", now=4.9, settled=()) == []
    assert _ids(seq.release(_evs([2]), snapshot="s", now=5.0, settled=())) == [2]
    assert set(seq.holes) == {1}
    # The stuck writer commits after all: late, not lost, and only once.
    assert _ids(seq.release(_evs([1, 3]), snapshot="t", now=6.0, settled=())) == [1, 3]
    assert not seq.holes
    assert seq.release(_evs([1]), snapshot="u", now=7.0, settled=()) == []
    # Holes are forgotten after hole_ttl.
    assert seq.release(_evs([5]), snapshot="v", now=8.0, settled=()) == []
    assert _ids(seq.release(_evs([5]), snapshot="v", now=13.0, settled=())) == [5]
    seq.release([], snapshot="w", now=80.0, settled=())
    assert not seq.holes


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(list(range(1, 13))),
    rolled_back=st.sets(st.integers(1, 12), max_size=4),
)
def test_every_committed_id_once_in_order(order: list[int], rolled_back: set[int]) -> None:
    """Commits arrive in any order; once all writers ended, every committed id was released
    exactly once and in increasing order."""
    seq = Sequencer(0)
    committed: list[int] = []
    released: list[int] = []
    for n, i in enumerate(order):
        if i in rolled_back:
            continue
        committed.append(i)
        # Writers of ids not yet committed are still in flight: nothing is settled.
        released += _ids(seq.release(_evs(committed), snapshot=f"s{n}", now=n, settled=()))
    # All writers have ended: every snapshot is settled (a pass may uncover the next gap).
    for _ in range(len(order)):
        snaps = seq.snapshots()
        released += _ids(seq.release(_evs(committed), snapshot="end", now=99, settled=snaps))
    assert released == sorted(committed)
    assert not seq.pending
