"""Reading what terminals sent: the queries the API runs on tracks, reports and photos."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infra.database import Conn, class_row
from ingest.terminals.models import Fix, PhotoFile, StoredPhoto, StoredReport


def list_track(
    conn: Conn,
    *,
    terminal_id: str,
    start: datetime | None,
    end: datetime | None,
    after: datetime | None,
    limit: int,
) -> list[Fix]:
    """Return a terminal's accepted fixes in time order, after the keyset ``after``."""
    clauses = ["terminal_id = %s"]
    params: list[Any] = [terminal_id]
    for clause, value in (("ts >= %s", start), ("ts < %s", end), ("ts > %s", after)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    params.append(limit)
    with conn.cursor(row_factory=class_row(Fix)) as cur:
        return cur.execute(
            "SELECT ts, lat, lon, quality, satellites, hdop FROM fixes "
            f"WHERE {' AND '.join(clauses)} ORDER BY ts LIMIT %s",
            params,
        ).fetchall()


def get_report(conn: Conn, *, report_id: str) -> StoredReport | None:
    """Return a stored report with the metadata of those of its photos that have arrived."""
    with conn.cursor(row_factory=class_row(StoredReport)) as cur:
        report = cur.execute(
            "SELECT report_id::text AS report_id, terminal_id, ts, category, description, lat,"
            " lon, position_source, unit_id, photos, received_at, grid_code, community_code,"
            " street_code FROM hazard_reports WHERE report_id = %s",
            (report_id,),
        ).fetchone()
    if report is None:
        return None
    with conn.cursor(row_factory=class_row(StoredPhoto)) as cur:
        arrived = cur.execute(
            "SELECT sha256, content_type, size, exif_ts, exif_lat, exif_lon, received_at"
            " FROM photos WHERE sha256 = ANY(%s)",
            (report.photos,),
        ).fetchall()
    return report.model_copy(update={"arrived": tuple(arrived)})


def get_photo(conn: Conn, *, sha256: str) -> PhotoFile | None:
    """Return where a stored photo's bytes are and their content type."""
    with conn.cursor(row_factory=class_row(PhotoFile)) as cur:
        return cur.execute(
            "SELECT path, content_type FROM photos WHERE sha256 = %s", (sha256,)
        ).fetchone()
