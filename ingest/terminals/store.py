"""Storing what terminals sent: photo bytes on disk, reports and photo rows in the batch.

Photo bytes are written content-addressed under the data directory before the batch commits;
reports, photo metadata and the position fallback run inside the batch transaction, after the
batch's fixes are written.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from psycopg.types.json import Jsonb

from devices.models import CaseActionMessage, HazardReport, Photo
from infra.database import Conn
from ingest.exceptions import PhotoStoreError
from ingest.models import ReceivedReport, Rejection

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


def store_case_actions(
    conn: Conn, *, actions: Iterable[tuple[CaseActionMessage, datetime]], batch_id: int
) -> int:
    """Store terminals' case actions in the batch's transaction; return how many.

    Stored as sent (decoded): idempotence by ``action_id`` and whether the case's state allows
    the action are the dispatch role's, which applies them when it consumes the batch.
    """
    rows = [
        (
            a.terminal_id,
            received_at,
            batch_id,
            Jsonb(msgspec.to_builtins(a)),
        )
        for a, received_at in actions
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO terminal_case_actions (terminal_id, received_at, batch_id, action)"
                " VALUES (%s, %s, %s, %s)",
                rows,
            )
    return len(rows)
