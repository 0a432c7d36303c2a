"""Releasing the live feed's events strictly in id order, though ids commit out of order.

Ids are ``hazard_events.id`` (bigserial), and bigserials can commit out of order: transaction A
takes id 10, B takes 11 and commits first. Sending 11 and then 10 would break resuming, since a
client holding ``Last-Event-ID: 11`` that disconnects before 10 arrives would never get 10. So the
feed releases events strictly in id order (``Sequencer``): past a gap it holds back until the gap
is settled, i.e. every transaction that was in progress when the gap was seen (the xip list of the
snapshot of the query that saw it) has ended; then a still-missing id was rolled back and is
skipped. That settles within milliseconds of the other transaction's commit or rollback, so a fire
alarm is not delayed by a timer. As a backstop a gap older than ``max_wait`` is skipped anyway and
remembered as a hole for ``hole_ttl``; should its event still commit, it is delivered late (out of
order) rather than lost.

Pure (no database, no clock of its own), so it is tested apart from ``api.live_pg``, which asks
PostgreSQL which snapshots are settled and feeds the answers in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from api.live import LiveEvent

_MAX_GAP: Final = 10_000  # a wider gap is not two writers racing (a sequence jump): skip it


class Sequencer:
    """Release events in id order, holding back past a gap until the gap is settled."""

    def __init__(self, cursor: int, *, max_wait: float = 5.0, hole_ttl: float = 600.0) -> None:
        self.cursor = cursor
        self.max_wait = max_wait
        self.hole_ttl = hole_ttl
        self.pending: dict[int, tuple[float, str]] = {}  # gap id -> (first seen, snapshot)
        self.holes: dict[int, float] = {}  # skipped id -> when skipped

    def release(
        self, events: Sequence[LiveEvent], *, snapshot: str, now: float, settled: Collection[str]
    ) -> list[LiveEvent]:
        """Return what ``events`` (ordered by id) let go; ``settled``: snapshots whose
        in-progress transactions have all ended."""
        out: list[LiveEvent] = []
        for ev in events:
            if ev.id <= self.cursor:
                if self.holes.pop(ev.id, None) is not None:
                    out.append(ev)  # committed after its gap was given up: late, not lost
                continue
            gap = range(self.cursor + 1, ev.id)
            if 0 < len(gap) <= _MAX_GAP:
                waiting = [g for g in gap if not self._gap_settled(g, now, settled)]
                if waiting:
                    for g in waiting:
                        self.pending.setdefault(g, (now, snapshot))
                    break
                for g in gap:
                    self.pending.pop(g, None)
                    self.holes[g] = now
            out.append(ev)
            self.cursor = ev.id
        self.pending = {g: v for g, v in self.pending.items() if g > self.cursor}
        self.holes = {g: t for g, t in self.holes.items() if now - t < self.hole_ttl}
        return out

    def _gap_settled(self, gap: int, now: float, settled: Collection[str]) -> bool:
        seen = self.pending.get(gap)
        return seen is not None and (seen[1] in settled or now - seen[0] >= self.max_wait)

    def next_check(self) -> float | None:
        """Return how soon to look again while gaps are pending (None: none pending)."""
        return 0.02 if self.pending else None
