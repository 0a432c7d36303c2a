"""Handheld terminals on the ingest path: NMEA fixes, hazard reports, photos.

Decoding happens per batch (``TerminalDecoding``), chaining each terminal's last accepted fix
through the batch so the jump check spans messages. Photo bytes are written content-addressed
under the data directory before the batch commits; reports, photo metadata and the position
fallback run inside the batch transaction, after the batch's fixes are written.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devices.codecs import json_report, nmea
from devices.exceptions import DecodeError
from devices.models import Decoded, DecodePolicy, Fix, HazardReport, Photo
from devices.photos import inspect_photo
from infra.database import Conn
from ingest.config import TerminalSettings
from ingest.exceptions import IngestError
from ingest.models import ReceivedReport, Rejection
from ingest.topics import TopicKind

TERMINAL_KINDS = frozenset({TopicKind.NMEA, TopicKind.REPORT, TopicKind.PHOTO})
_FIX_FIELDS = "ts, terminal_id, lat, lon, quality, satellites, hdop, altitude_m, speed_mps"


class PhotoStoreError(IngestError):
    """Photo bytes could not be written to the data directory (full disk, permissions)."""


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


# -- photo files ------------------------------------------------------------------------------


def photo_path(sha256: str) -> str:
    """Return where a photo lives, relative to the data directory."""
    return f"photos/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def store_photo_files(data_dir: Path, photos: Iterable[Photo]) -> int:
    """Write photo bytes durably (temp file, fsync, rename); return how many were new."""
    written = 0
    try:
        for photo in photos:
            target = data_dir / photo_path(photo.sha256)
            if target.is_file() and target.stat().st_size == photo.size:
                continue  # content-addressed: same name, same bytes
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{photo.sha256}.{uuid.uuid4().hex[:8]}.tmp")
            with tmp.open("wb") as out:
                out.write(photo.data)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(target)
            _fsync_dir(target.parent)
            written += 1
    except OSError as exc:
        raise PhotoStoreError(f"cannot store photo under {data_dir}: {exc}") from exc
    return written


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- rows written in the batch transaction ------------------------------------------------------


@dataclass(slots=True)
class TerminalRows:
    """What the report and photo part of one batch stored."""

    reports: int = 0
    report_duplicates: int = 0
    report_conflicts: int = 0
    photos: int = 0
    photo_duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)


def store_photo_rows(
    conn: Conn, *, photos: list[tuple[Photo, datetime]], result: TerminalRows
) -> None:
    """Insert photo metadata; a photo already stored is a duplicate."""
    for photo, received_at in photos:
        cur = conn.execute(
            "INSERT INTO photos (sha256, terminal_id, content_type, size, path, exif_ts,"
            " exif_lat, exif_lon, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (sha256) DO NOTHING",
            (
                photo.sha256,
                photo.terminal_id,
                photo.content_type,
                photo.size,
                photo_path(photo.sha256),
                photo.exif_ts,
                photo.exif_lat,
                photo.exif_lon,
                received_at,
            ),
        )
        if cur.rowcount:
            result.photos += 1
        else:
            result.photo_duplicates += 1


def store_reports(
    conn: Conn,
    *,
    reports: list[ReceivedReport],
    batch_id: int,
    fix_window: timedelta,
    result: TerminalRows,
) -> None:
    """Insert new reports, resolving missing positions from fixes; count resends and conflicts.

    Runs after the batch's fixes are written, so a report may take a fix from its own batch.
    """
    for item in reports:
        report = item.report
        stored = conn.execute(
            "SELECT terminal_id, ts, category, description, lat, lon, position_source,"
            " unit_id, photos FROM hazard_reports WHERE report_id = %s",
            (report.report_id,),
        ).fetchone()
        if stored is not None:
            if _same_report(stored, report):
                result.report_duplicates += 1
            else:
                result.report_conflicts += 1
                _store_conflict(conn, stored, item)
            continue
        source = "report"
        lat, lon = report.lat, report.lon
        if lat is None or lon is None:
            source = "fix"
            found = conn.execute(
                "SELECT lat, lon FROM fixes WHERE terminal_id = %s AND ts BETWEEN %s AND %s"
                " ORDER BY abs(extract(epoch FROM ts - %s)), ts LIMIT 1",
                (report.terminal_id, report.ts - fix_window, report.ts + fix_window, report.ts),
            ).fetchone()
            if found is None:
                result.rejections.append(
                    Rejection(
                        item.received_at,
                        item.topic,
                        "no_position",
                        f"no position in the report and no accepted fix within "
                        f"{fix_window.total_seconds():g} s of {report.ts.isoformat()}",
                        item.payload,
                    )
                )
                continue
            lat, lon = found
        conn.execute(
            "INSERT INTO hazard_reports (report_id, terminal_id, ts, category, description, lat,"
            " lon, position_source, unit_id, photos, received_at, batch_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                report.report_id,
                report.terminal_id,
                report.ts,
                report.category,
                report.description,
                lat,
                lon,
                source,
                report.unit_id,
                report.photos,
                item.received_at,
                batch_id,
            ),
        )
        result.reports += 1


def _same_report(stored: tuple[Any, ...], report: HazardReport) -> bool:
    terminal_id, ts, category, description, lat, lon, source, unit_id, photos = stored
    if (terminal_id, ts, category, description, unit_id, list(photos)) != (
        report.terminal_id,
        report.ts,
        report.category,
        report.description,
        report.unit_id,
        report.photos,
    ):
        return False
    if report.lat is None or report.lon is None:
        return bool(source == "fix")
    return bool(
        source == "report" and abs(lat - report.lat) < 1e-9 and abs(lon - report.lon) < 1e-9
    )


_REPORT_KEYS = ("terminal_id", "ts", "category", "description", "lat", "lon", "unit_id", "photos")


def _report_json(values: tuple[Any, ...]) -> Jsonb:
    doc = dict(zip(_REPORT_KEYS, values, strict=True))
    doc["ts"] = doc["ts"].isoformat()
    doc["photos"] = list(doc["photos"])
    return Jsonb(doc)


def _store_conflict(conn: Conn, stored: tuple[Any, ...], item: ReceivedReport) -> None:
    r = item.report
    incoming = (r.terminal_id, r.ts, r.category, r.description, r.lat, r.lon, r.unit_id, r.photos)
    conn.execute(
        "INSERT INTO ingest_conflicts (received_at, kind, device_id, ts, seq, key, stored,"
        " incoming) VALUES (%s, 'report', %s, %s, -1, %s, %s, %s)",
        (
            item.received_at,
            r.terminal_id,
            r.ts,
            r.report_id,
            _report_json((*stored[:6], stored[7], stored[8])),
            _report_json(incoming),
        ),
    )


# -- queries the API runs ---------------------------------------------------------------------


def list_track(
    conn: Conn,
    *,
    terminal_id: str,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Return a terminal's accepted fixes in time order, after the keyset ``after``."""
    clauses = ["terminal_id = %s"]
    params: list[Any] = [terminal_id]
    for clause, value in (("ts >= %s", start), ("ts < %s", end), ("ts > %s", after)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    params.append(limit)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT ts, lat, lon, quality, satellites, hdop FROM fixes "
            f"WHERE {' AND '.join(clauses)} ORDER BY ts LIMIT %s",
            params,
        ).fetchall()


def get_report(conn: Conn, *, report_id: str) -> dict[str, Any] | None:
    """Return a stored report with the metadata of those of its photos that have arrived."""
    with conn.cursor(row_factory=dict_row) as cur:
        report = cur.execute(
            "SELECT report_id::text AS report_id, terminal_id, ts, category, description, lat,"
            " lon, position_source, unit_id, photos, received_at, grid_code, community_code,"
            " street_code FROM hazard_reports WHERE report_id = %s",
            (report_id,),
        ).fetchone()
        if report is None:
            return None
        report["photo_rows"] = cur.execute(
            "SELECT sha256, content_type, size, exif_ts, exif_lat, exif_lon, received_at"
            " FROM photos WHERE sha256 = ANY(%s)",
            (report["photos"],),
        ).fetchall()
    return report


def get_photo(conn: Conn, *, sha256: str) -> tuple[str, str] | None:
    """Return (path relative to the data directory, content type) of a stored photo."""
    row = conn.execute(
        "SELECT path, content_type FROM photos WHERE sha256 = %s", (sha256,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))
