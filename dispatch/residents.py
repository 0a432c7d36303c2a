"""Residents' reports (群众点单) and their one-time rating links (issue 8 point 8).

A resident's report is stored exactly as a grid worker's is: a batch of ingest holding the
report and its photos, with its ``batch.committed`` event, so the rules raise the report's
hazard and dispatch files the case the same way (``case_rules.yaml``: ``worker_report``,
category from the report). Its ``terminal_id`` is ``RESIDENT``: no device sent it. The answer
carries a rating link whose token is random and kept only as its SHA-256; the resident rates
the case the report ended in once, after it closed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from devices.exceptions import DecodeError
from devices.models import HazardReport, Photo
from devices.photos import inspect_photo
from dispatch.exceptions import ResidentError
from infra.database import Conn
from ingest.models import PreparedBatch, ReceivedReport
from ingest.service import write_batch
from ingest.terminals.store import store_photo_files

__all__ = [
    "RESIDENT",
    "LinkState",
    "Rated",
    "Received",
    "link_state",
    "rate_case",
    "store_resident_report",
    "token_hash",
]

RESIDENT: Final = "resident"  # the terminal_id of every resident's report and photo
TOPIC: Final = "api:/api/v1/public/reports"  # where a stored row says it came from


@dataclass(frozen=True, slots=True)
class Received:
    """A stored resident's report and the token of its rating link (shown once)."""

    report_id: str
    received_at: datetime
    photos: list[str]
    rating_token: str


@dataclass(frozen=True, slots=True)
class Rated:
    """A rating given."""

    case_id: str
    rating: int
    comment: str
    rated_at: datetime


def token_hash(token: str) -> bytes:
    """Return what is stored of a rating link's token."""
    return hashlib.sha256(token.encode()).digest()


def check_photos(photos: Sequence[bytes], *, max_bytes: int, max_photos: int) -> list[Photo]:
    """Check each photo (JPEG or PNG, size) and read its EXIF; raise ResidentError if one fails."""
    if len(photos) > max_photos:
        raise ResidentError("too_many_photos", f"at most {max_photos} photos", status=422)
    out = []
    for i, raw in enumerate(photos):
        sha = hashlib.sha256(raw).hexdigest()
        try:
            out.append(inspect_photo(raw, sha256=sha, terminal_id=RESIDENT, max_bytes=max_bytes))
        except DecodeError as exc:  # photo_too_large, unsupported_media
            status = 413 if exc.reason == "photo_too_large" else 422
            raise ResidentError(exc.reason, f"photos[{i}]: {exc}", status=status) from exc
    return out


def store_resident_report(
    conn: Conn,
    *,
    category: str,
    description: str,
    lat: float,
    lon: float,
    photos: Sequence[Photo],
    data_dir: Path | None,
    now: datetime,
) -> Received:
    """Store the report, its photos and its rating link; commit with the caller's transaction.

    Photo bytes are written (content-addressed, fsynced) before the rows that name them, as
    ingest does: a crash in between leaves an unnamed file, never a row without its bytes.
    """
    if photos:
        if data_dir is None:
            raise ResidentError("no_photo_storage", "this FireGrid keeps no photos", status=503)
        store_photo_files(data_dir, photos)
    report = HazardReport(
        report_id=str(uuid.uuid4()),
        terminal_id=RESIDENT,
        ts=now,
        category=category,
        description=description,
        lat=lat,
        lon=lon,
        photos=[p.sha256 for p in photos],
    )
    batch = PreparedBatch(
        messages=1,
        reports=[ReceivedReport(report, now, TOPIC, b"")],
        photos=[(p, now) for p in photos],
    )
    write_batch(conn, batch=batch)
    token = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO rating_links (token_hash, report_id, created_at) VALUES (%s, %s, %s)",
        (token_hash(token), report.report_id, now),
    )
    return Received(report.report_id, now, list(report.photos), token)


@dataclass(frozen=True, slots=True)
class LinkState:
    """What a rating link's holder may see: where the report stands, and the rating if given."""

    report_id: str
    case_id: str | None
    status: str | None  # the case's; None while no case is filed yet
    rating: int | None
    rated_at: datetime | None


def link_state(conn: Conn, *, token: str) -> LinkState:
    """Return the state of the link's report and case; raise ResidentError if no such link."""
    row = conn.execute(
        "SELECT l.report_id, c.case_id, c.status, r.rating, r.rated_at FROM rating_links l"
        " LEFT JOIN LATERAL (SELECT case_id, status FROM case_reports JOIN cases USING (case_id)"
        "  WHERE report_id = l.report_id ORDER BY created_at DESC LIMIT 1) c ON true"
        " LEFT JOIN case_ratings r ON r.report_id = l.report_id"
        " WHERE l.token_hash = %s",
        (token_hash(token),),
    ).fetchone()
    if row is None:
        raise ResidentError("not_found", "no such rating link", status=404)
    return LinkState(*row)


def rate_case(conn: Conn, *, token: str, rating: int, comment: str, now: datetime) -> Rated:
    """Rate the closed case of the link's report, once; raise ResidentError otherwise."""
    link = conn.execute(
        "SELECT report_id, used_at FROM rating_links WHERE token_hash = %s FOR UPDATE",
        (token_hash(token),),
    ).fetchone()
    if link is None:
        raise ResidentError("not_found", "no such rating link", status=404)
    report_id, used_at = link
    if used_at is not None:
        raise ResidentError(
            "already_rated",
            "this link was used already",
            status=409,
            details={"rated_at": used_at.isoformat()},
        )
    case = conn.execute(
        "SELECT c.case_id, c.status FROM case_reports r JOIN cases c USING (case_id)"
        " WHERE r.report_id = %s ORDER BY c.created_at DESC LIMIT 1",
        (report_id,),
    ).fetchone()
    if case is None or case[1] != "closed":
        raise ResidentError(
            "case_not_closed",
            "the case of this report is not closed yet: rate it once it is",
            status=409,
            details={
                "case_id": None if case is None else case[0],
                "status": None if case is None else case[1],
            },
        )
    conn.execute(
        "INSERT INTO case_ratings (report_id, case_id, rating, comment, rated_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (report_id, case[0], rating, comment, now),
    )
    conn.execute(
        "UPDATE rating_links SET used_at = %s WHERE token_hash = %s", (now, token_hash(token))
    )
    return Rated(case[0], rating, comment, now)
