"""Grid versions and areas (CONTRACT §2), PostGIS geometry when available; patrol segments.

Grids are stored once per imported version and never updated in place: an event located under
version 3 keeps meaning version 3 after version 4 arrives. "Current" is the newest version.

The geometry is kept as WKB (WGS-84) in ``wkb`` on every database, which is what the in-process
locator loads, so a plain PostgreSQL serves. When the server offers PostGIS the migration adds
``geom``, a column *generated* from ``wkb``: the import code writes the same rows on both paths
and never needs to know which one it is on.
"""

from __future__ import annotations

import logging

import psycopg

from infra.database import Conn
from ingest.config import StorageSettings

log = logging.getLogger(__name__)

GRIDS = """
CREATE TABLE grid_versions (
    version     serial PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,
    streets     integer NOT NULL,
    communities integer NOT NULL,
    grids       integer NOT NULL
);

CREATE TABLE grid_areas (
    version    integer NOT NULL REFERENCES grid_versions ON DELETE CASCADE,
    code       text NOT NULL,
    level      text NOT NULL CHECK (level IN ('street', 'community', 'grid')),
    name       text NOT NULL,
    parent     text,                 -- a street's parent is its 6-digit county
    county     text NOT NULL,        -- code parts (DOMAIN §1): 6 + 3 + 3 + 2 or 3 digits
    street     text NOT NULL,
    community  text,
    sequence   text,
    source_crs text NOT NULL,        -- what the file said; the geometry is WGS-84
    wkb        bytea,                -- NULL: a street or community given without a polygon
    min_lon    double precision,
    min_lat    double precision,
    max_lon    double precision,
    max_lat    double precision,
    PRIMARY KEY (version, code)
);
CREATE INDEX grid_areas_parent ON grid_areas (version, parent, code);
CREATE INDEX grid_areas_level ON grid_areas (version, level, code);
"""

POSTGIS_COLUMN = """
ALTER TABLE grid_areas ADD COLUMN geom geometry(MultiPolygon, 4326)
    GENERATED ALWAYS AS (ST_Multi(ST_GeomFromWKB(wkb, 4326))) STORED;
CREATE INDEX grid_areas_geom ON grid_areas USING gist (geom) WHERE level = 'grid';
"""

PATROLS = """
-- Derived from stored fixes by patrols.service.rebuild_segments; rebuilt, never edited.
CREATE TABLE patrol_segments (
    id           bigserial PRIMARY KEY,
    terminal_id  text NOT NULL,
    staff_id     text,
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz NOT NULL,
    duration_s   double precision NOT NULL,
    distance_m   double precision NOT NULL,
    fixes        integer NOT NULL,
    extent_m     double precision NOT NULL,
    cells        integer NOT NULL,
    grids        jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{grid, community, street, seconds, fixes}]
    grid_version integer,
    valid        boolean NOT NULL,
    reason       text,                                -- why not valid; NULL when valid
    computed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (terminal_id, started_at),
    CHECK (ended_at >= started_at)
);
CREATE INDEX patrol_segments_staff ON patrol_segments (staff_id, started_at);
CREATE INDEX patrol_segments_started ON patrol_segments (started_at);
"""


def postgis_available(conn: Conn) -> bool:
    """Tell whether the server can load the postgis extension."""
    row = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
    ).fetchone()
    return bool(row and row[0])


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the grid and patrol tables, with a PostGIS geometry column when possible."""
    del timescale, storage  # neither table is time-series: both are small and keyed otherwise
    conn.execute(GRIDS)
    conn.execute(PATROLS)
    if not postgis_available(conn):
        log.info("postgis is not available: grid lookup runs in process only")
        return
    try:
        # A savepoint: without the right to create the extension the migration still succeeds,
        # on the in-process path, instead of failing the whole schema step.
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute(POSTGIS_COLUMN)
    except psycopg.Error as exc:
        log.warning("postgis is available but could not be enabled (%s): in-process only", exc)
