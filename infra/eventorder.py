"""Releasing log events strictly in id order, though ids commit out of order.

Event ids are a bigserial, and bigserials commit out of order: transaction A takes id 10, B
takes 11 and commits first. A reader that moved past 11 would never see 10 once it commits, so
every reader of the log (a durable consumer, the live feed) releases events strictly in id order
through a ``Sequencer``: past a gap it holds back until the gap is *settled*.

Settled, precisely: the reader saw the gap under snapshot S (the snapshot of the query that read
the rows around it). The gap's id was drawn before S by an appender, and every appender forces
its transaction id and takes the log's shared advisory lock *before* drawing an id
(``infra.eventlog.append``). So when S was taken the gap's writer had committed (then the gap
would not be a gap), had rolled back, or was in S's in-progress list holding that lock. The gap
is settled once no transaction of S's in-progress list still runs while holding the lock; a read
after that point sees the gap's event if it committed, and a gap still missing then was rolled
back and is skipped for good. Unrelated transactions in the list (an idle psql session, a long
import) hold no appender lock and do not stall the log.

Durable consumers wait for a gap however long it takes (``max_wait=None``): skipping would lose
the event. The live feed may set ``max_wait`` as a backstop against a stuck appender: a gap older
than that is skipped and remembered as a hole for ``hole_ttl``; should its event still commit it
is delivered late (out of order) rather than lost, and the client can always resume by id.

Pure (no database, no clock of its own): ``infra.eventlog`` and ``feed`` ask PostgreSQL which
snapshots are settled and feed the answers in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, TypeVar

__all__ = ["HasId", "Sequencer"]


class HasId(Protocol):
    """Anything with an event id."""

    @property
    def id(self) -> int:
        """Return the event id."""
        ...


E = TypeVar("E", bound=HasId)


class Sequencer:
    """Release events in id order, holding back past a gap until the gap is settled."""

    def __init__(
        self, cursor: int, *, max_wait: float | None = None, hole_ttl: float = 600.0
    ) -> None:
        self.cursor = cursor
        self.max_wait = max_wait
        self.hole_ttl = hole_ttl
        self.pending: dict[int, tuple[float, str]] = {}  # gap id -> (first seen, snapshot)
        self.holes: dict[int, float] = {}  # id skipped by the backstop -> when skipped

    def release(
        self, events: Sequence[E], *, snapshot: str, now: float, settled: Collection[str]
    ) -> list[E]:
        """Return what ``events`` (ordered by id, read under ``snapshot``) let go; ``settled``:
        snapshots no appender of which still runs."""
        out: list[E] = []
        for ev in events:
            if ev.id <= self.cursor:
                if self.holes.pop(ev.id, None) is not None:
                    out.append(ev)  # committed after the backstop gave it up: late, not lost
                continue
            gap = range(self.cursor + 1, ev.id)
            if gap:
                waiting = [g for g in gap if not self._gap_settled(g, now, settled)]
                if waiting:
                    for g in waiting:
                        self.pending.setdefault(g, (now, snapshot))
                    break
                for g in gap:
                    seen = self.pending.pop(g, None)
                    if seen is not None and seen[1] not in settled:
                        self.holes[g] = now  # given up by the backstop, not known rolled back
            out.append(ev)
            self.cursor = ev.id
        self.pending = {g: v for g, v in self.pending.items() if g > self.cursor}
        self.holes = {g: t for g, t in self.holes.items() if now - t < self.hole_ttl}
        return out

    def _gap_settled(self, gap: int, now: float, settled: Collection[str]) -> bool:
        # A gap counts as settled only under a snapshot it was SEEN missing in: seeing it first
        # here and settling it at once would skip an id whose writer began after that snapshot.
        seen = self.pending.get(gap)
        if seen is None:
            return False
        return seen[1] in settled or (self.max_wait is not None and now - seen[0] >= self.max_wait)

    def snapshots(self) -> set[str]:
        """Return the snapshots pending gaps were seen under (to ask which are settled)."""
        return {snap for _, snap in self.pending.values()}

    def next_check(self) -> float | None:
        """Return how soon to look again while gaps are pending (None: none pending)."""
        return 0.02 if self.pending else None
