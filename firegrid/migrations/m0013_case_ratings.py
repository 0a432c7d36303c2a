"""Residents' ratings of closed cases (issue 8 point 8): one-time links and the ratings given.

A resident's public report is answered with a rating link carrying a random token; only the
token's SHA-256 is kept (``rating_links``), so a leaked database holds no working link. The
link names the report, not a case: the case is opened later by the rules and dispatch roles,
and found through ``case_reports`` when the resident rates. ``case_ratings`` holds only ratings
actually given (one per link), so the indicators average and count it as it stands.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE rating_links (
    token_hash  bytea PRIMARY KEY,            -- sha256 of the link's token; never the token
    report_id   text NOT NULL UNIQUE,         -- the resident's report (hazard_reports)
    created_at  timestamptz NOT NULL,
    used_at     timestamptz                   -- set by the one rating the link allows
);

CREATE TABLE case_ratings (
    report_id   text PRIMARY KEY,             -- one rating per resident's report (its link)
    case_id     text NOT NULL REFERENCES cases ON DELETE CASCADE,
    rating      smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '',
    rated_at    timestamptz NOT NULL
);
CREATE INDEX case_ratings_case ON case_ratings (case_id);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the rating tables (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
