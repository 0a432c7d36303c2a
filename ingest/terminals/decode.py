"""Decoding terminal messages in a batch: NMEA fixes, hazard reports, photos.

Decoding happens per batch (``TerminalDecoding``), chaining each terminal's last accepted fix
through the batch so the jump check spans messages; ``FixCache`` remembers each terminal's last
committed fix between batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from devices.codecs import json_report, nmea
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, Fix, HazardReport, Photo
from devices.photos import inspect_photo
from infra.database import Conn
from ingest.config import TerminalSettings
from ingest.topics import TopicKind

TERMINAL_KINDS = frozenset({TopicKind.NMEA, TopicKind.REPORT, TopicKind.PHOTO})
_FIX_FIELDS = "ts, terminal_id, lat, lon, quality, satellites, hdop, altitude_m, speed_mps"


class TerminalDecoding:
    """The decoders of terminal topics for one batch.

    ``previous`` holds each terminal's last committed fix; fixes accepted earlier in the batch
    replace it as the batch is decoded, in message order.
    """

    def __init__(
        self,
        *,
        nmea_policy: nmea.NmeaPolicy,
        policy: DecodePolicy,
        settings: TerminalSettings,
        previous: dict[str, Fix],
        photos: bool,
    ) -> None:
        self._nmea_policy = nmea_policy
        self._policy = policy
        self._settings = settings
        self._previous = dict(previous)
        self._photos = photos
        self.nmea_counts: Counter[str] = Counter()

    def handles(self, kind: TopicKind) -> bool:
        """Tell whether messages of ``kind`` are decoded here."""
        return kind in TERMINAL_KINDS and (kind is not TopicKind.PHOTO or self._photos)

    def decode(
        self, kind: TopicKind, raw: bytes, *, sender: str, arg: str, received_at: datetime
    ) -> Decoded | HazardReport | Photo:
        """Decode one message of a terminal topic, or raise DecodeError."""
        if kind is TopicKind.NMEA:
            return self._nmea(raw, sender, received_at)
        if kind is TopicKind.REPORT:
            return json_report.decode(
                raw, terminal_id=sender, received_at=received_at, policy=self._policy
            )
        if kind is TopicKind.PHOTO:
            return inspect_photo(
                raw,
                sha256=arg,
                terminal_id=sender,
                max_bytes=self._settings.photo_max_bytes,
                exif_offset=self._settings.exif_default_offset,
            )
        raise DecodeError("unsupported_topic", raw, detail=f"{kind} is not a terminal topic")

    def _nmea(self, raw: bytes, sender: str, received_at: datetime) -> Decoded:
        previous = self._previous.get(sender)
        out = nmea.decode(
            raw,
            terminal_id=sender,
            received_at=received_at,
            policy=self._nmea_policy,
            previous=previous,
        )
        self.nmea_counts.update(out.counts)
        self.nmea_counts["fix"] += len(out.fixes)
        if out.fixes:
            newest = max(out.fixes, key=lambda f: f.ts)
            if previous is None or newest.ts >= previous.ts:
                self._previous[sender] = newest
        return Decoded(records=list(out.fixes), rejections=out.rejections)


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
