"""Cases (issue 8): cases, their hazards, reports, history and actions; staff on tokens; the
case actions terminals publish, stored by ingest for the dispatch role."""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE cases (
    case_id          text PRIMARY KEY,             -- C-YYYYMMDD-NNNNNN (China date, daily seq)
    category         text NOT NULL,
    urgency          text NOT NULL CHECK (urgency IN ('urgent', 'normal')),
    status           text NOT NULL CHECK (status IN ('reported', 'filed', 'dispatched', 'signed',
                                                     'handled', 'verified', 'closed', 'returned')),
    unit_id          text,
    grid_code        text,
    community_code   text,
    street_code      text,
    lat              double precision,             -- WGS-84
    lon              double precision,
    area_type        text NOT NULL DEFAULT 'urban' CHECK (area_type IN ('urban', 'rural')),
    assignee         text,                         -- staff_id
    assignee_reason  text NOT NULL DEFAULT '',
    escalation_level integer NOT NULL DEFAULT 0,
    deadline         timestamptz,                  -- of the current stage
    stage            text CHECK (stage IN ('file', 'sign', 'handle', 'verify')),
    handled_by       text,                         -- who gave the feedback: not the verifier
    rework           integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    version          integer NOT NULL DEFAULT 1,   -- bumped on every change
    open_key         text NOT NULL,                -- coalesce(unit_id, grid_code, ...)
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
-- One open case per (unit, or grid when there is none; category): an alarm storm joins it.
CREATE UNIQUE INDEX cases_one_open ON cases (open_key, category) WHERE status <> 'closed';
CREATE INDEX cases_created ON cases (created_at DESC, case_id DESC);
CREATE INDEX cases_assignee ON cases (assignee, status);
CREATE INDEX cases_grid ON cases (grid_code);
CREATE INDEX cases_deadline ON cases (deadline) WHERE status <> 'closed';

-- The daily sequence behind case ids, per China date.
CREATE TABLE case_id_days (
    day  date PRIMARY KEY,
    last integer NOT NULL
);

CREATE TABLE case_hazards (
    case_id   text NOT NULL REFERENCES cases ON DELETE CASCADE,
    hazard_id bigint NOT NULL,
    PRIMARY KEY (case_id, hazard_id)
);
CREATE UNIQUE INDEX case_hazards_once ON case_hazards (hazard_id);

CREATE TABLE case_reports (
    case_id   text NOT NULL REFERENCES cases ON DELETE CASCADE,
    report_id text NOT NULL,
    PRIMARY KEY (case_id, report_id)
);

CREATE TABLE case_history (
    case_id     text NOT NULL REFERENCES cases ON DELETE CASCADE,
    seq         integer NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    actor       text,
    at          timestamptz NOT NULL,
    note        text NOT NULL DEFAULT '',
    photos      text[] NOT NULL DEFAULT '{}',
    lat         double precision,
    lon         double precision,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (case_id, seq)
);

-- Idempotence of actions: a repeated action_id answers the first outcome.
CREATE TABLE case_actions (
    action_id   text PRIMARY KEY,
    case_id     text NOT NULL,
    received_at timestamptz NOT NULL,
    outcome     jsonb NOT NULL
);

-- Case actions terminals published (fg/v1/t/{id}/case), stored in their ingest batch's
-- transaction; the dispatch role applies them when it consumes the batch's event.
CREATE TABLE terminal_case_actions (
    id          bigserial PRIMARY KEY,
    terminal_id text NOT NULL,
    received_at timestamptz NOT NULL,
    batch_id    bigint NOT NULL,
    action      jsonb NOT NULL                    -- the decoded action (dispatch.models)
);
CREATE INDEX terminal_case_actions_batch ON terminal_case_actions (batch_id);

-- A token may name a staff member: the actor of the case actions it posts.
ALTER TABLE api_tokens ADD COLUMN staff_id text;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the case tables (plain tables on both storage paths)."""
    del timescale, storage  # cases are records, not a time series to chunk
    conn.execute(SCHEMA)
    # Dispatch starts at the head of the log: hazards of the past do not become a flood of
    # cases on upgrade (open ones are the operators' to file by hand).
    conn.execute(
        "INSERT INTO event_cursors (consumer, position)"
        " SELECT 'dispatch', coalesce(max(id), 0) FROM event_log"
    )
