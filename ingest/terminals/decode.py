"""The terminals' part of decoding a batch: each terminal's last fix, for NMEA's jump check.

``FixCache`` remembers each terminal's last committed fix between batches; ``FixChain`` carries
it through one batch as the registry's NMEA decoder accepts newer fixes.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.models import Fix, Record
from infra.database import Conn

_FIX_FIELDS = "ts, terminal_id, lat, lon, quality, satellites, hdop, altitude_m, speed_mps"


class FixChain:
    """Each terminal's last accepted fix while a batch is decoded, in message order.

    It starts from the last committed fixes; a fix accepted earlier in the batch replaces the
    terminal's, so NMEA's jump check spans messages as well as sentences.
    """

    def __init__(self, previous: dict[str, Fix] | None = None) -> None:
        self._last = dict(previous or {})

    def previous(self, terminal_id: str) -> Fix | None:
        """Return the fix the terminal's next payload is checked against, if any."""
        return self._last.get(terminal_id)

    def advance(self, terminal_id: str, records: Iterable[Record]) -> None:
        """Move the terminal's chain to the newest of the fixes just accepted."""
        fixes = [r for r in records if isinstance(r, Fix)]
        if not fixes:
            return
        newest = max(fixes, key=lambda f: f.ts)
        previous = self._last.get(terminal_id)
        if previous is None or newest.ts >= previous.ts:
            self._last[terminal_id] = newest


class FixCache:
    """Each terminal's last committed fix, loaded from the database on a miss."""

    def __init__(self) -> None:
        self._last: dict[str, Fix | None] = {}

    def load(self, conn: Conn, *, terminal_ids: Iterable[str]) -> None:
        """Fetch the last stored fix of the terminals not cached yet."""
        missing = sorted(set(terminal_ids) - self._last.keys())
        if not missing:
            return
        rows = conn.execute(
            f"SELECT {', '.join('f.' + c.strip() for c in _FIX_FIELDS.split(','))} "
            "FROM unnest(%s::text[]) AS t(id) CROSS JOIN LATERAL ("
            f" SELECT {_FIX_FIELDS} FROM fixes WHERE terminal_id = t.id"
            " ORDER BY ts DESC LIMIT 1) AS f",
            (missing,),
        ).fetchall()
        self._last.update(dict.fromkeys(missing))
        for ts, tid, lat, lon, quality, sats, hdop, alt, speed in rows:
            self._last[tid] = Fix(tid, ts, lat, lon, quality, sats, hdop, alt, speed)

    def snapshot(self, terminal_ids: Iterable[str]) -> dict[str, Fix]:
        """Return the cached fixes of those of ``terminal_ids`` that have one."""
        found = ((tid, self._last.get(tid)) for tid in terminal_ids)
        return {tid: fix for tid, fix in found if fix is not None}

    def update(self, fixes: Iterable[Fix]) -> None:
        """Remember newly committed fixes, keeping each terminal's newest."""
        for fix in fixes:
            known = self._last.get(fix.terminal_id)
            if known is None or fix.ts >= known.ts:
                self._last[fix.terminal_id] = fix
