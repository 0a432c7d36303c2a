"""Handheld terminals: GNSS fixes (time series), hazard reports, photo metadata."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings
from ingest.partitions import create_timeseries_table

# Accepted fixes only, WGS-84; identity (terminal_id, ts) so a resent flush stores nothing new.
FIXES_COLUMNS = """
    ts          timestamptz NOT NULL,
    terminal_id text NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    quality     smallint NOT NULL,
    satellites  smallint,
    hdop        double precision,
    altitude_m  double precision,
    speed_mps   double precision,
    received_at timestamptz NOT NULL,
    batch_id    bigint NOT NULL
"""

TABLES = """
-- One row per report_id (idempotence). Position is WGS-84, from the report itself or from the
-- terminal's nearest accepted fix (position_source). The grid codes are filled by geolocation.
CREATE TABLE hazard_reports (
    report_id       uuid PRIMARY KEY,
    terminal_id     text NOT NULL,
    ts              timestamptz NOT NULL,
    category        text NOT NULL,
    description     text NOT NULL DEFAULT '',
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    position_source text NOT NULL CHECK (position_source IN ('report', 'fix')),
    unit_id         text,
    photos          text[] NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL,
    batch_id        bigint NOT NULL,
    grid_code       text,
    community_code  text,
    street_code     text
);
CREATE INDEX hazard_reports_terminal ON hazard_reports (terminal_id, ts);
CREATE INDEX hazard_reports_batch ON hazard_reports (batch_id);
CREATE INDEX hazard_reports_photos ON hazard_reports USING gin (photos);

-- Photo bytes live content-addressed under the data directory; this is their metadata.
CREATE TABLE photos (
    sha256       text PRIMARY KEY,
    terminal_id  text NOT NULL,
    content_type text NOT NULL,
    size         integer NOT NULL,
    path         text NOT NULL,            -- relative to the data directory
    exif_ts      timestamptz,
    exif_lat     double precision,
    exif_lon     double precision,
    received_at  timestamptz NOT NULL
);
CREATE INDEX photos_terminal ON photos (terminal_id, received_at);

ALTER TABLE ingest_batches
    ADD COLUMN fixes integer NOT NULL DEFAULT 0,
    ADD COLUMN reports integer NOT NULL DEFAULT 0,
    ADD COLUMN photos integer NOT NULL DEFAULT 0;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the terminal tables on either storage path."""
    create_timeseries_table(
        conn,
        table="fixes",
        columns=FIXES_COLUMNS,
        unique="terminal_id, ts",
        segment_by="terminal_id",
        order_by="ts DESC",
        chunk=storage.chunk_interval,
        compress_after=storage.compress_after,
        retention=storage.retention,
        timescale=timescale,
    )
    # The identity index (terminal_id, ts) serves the track query and the report fallback.
    conn.execute("CREATE INDEX fixes_batch ON fixes (batch_id)")
    conn.execute(TABLES)
