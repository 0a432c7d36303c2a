"""Deadlines in motion (issue 8 points 4 and 7): reminders, escalation, extensions, suspensions.

Each case remembers which deadline it was reminded of (``reminded_for``) and escalated for
(``escalated_for``): the sweep's steps are keyed by the deadline they answer, so a sweep run
twice, or after a crash, neither repeats nor skips one. ``remind_at`` is fixed when a deadline
is set (an edited table does not move a scheduled reminder). ``next_due`` is what the sweep
looks for, derived by PostgreSQL from the columns above so it can be indexed.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE cases
    ADD COLUMN remind_at       timestamptz,    -- the reminder of the current deadline is due
    ADD COLUMN reminded_for    timestamptz,    -- the deadline whose reminder was sent
    ADD COLUMN escalated_for   timestamptz,    -- the deadline whose passing was escalated
    ADD COLUMN suspended_since timestamptz,    -- 挂账: the clock is paused (deadline NULL)
    ADD COLUMN paused_left     interval,       -- the stage's time left when it was paused
    ADD COLUMN next_due timestamptz GENERATED ALWAYS AS (
        CASE
            WHEN status = 'closed' OR deadline IS NULL OR suspended_since IS NOT NULL THEN NULL
            WHEN escalated_for IS NOT DISTINCT FROM deadline THEN NULL
            WHEN remind_at IS NOT NULL AND reminded_for IS DISTINCT FROM deadline
                THEN least(remind_at, deadline)
            ELSE deadline
        END
    ) STORED;
CREATE INDEX cases_next_due ON cases (next_due) WHERE next_due IS NOT NULL;

-- Extension (延期) and suspension (挂账) requests; the community handler approves or refuses.
CREATE TABLE case_requests (
    request_id   text PRIMARY KEY,             -- the asking action's action_id
    case_id      text NOT NULL REFERENCES cases ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('extend', 'suspend')),
    asked_by     text NOT NULL,
    asked_at     timestamptz NOT NULL,
    reason       text NOT NULL,
    until        timestamptz,                  -- extend: the deadline asked for
    for_deadline timestamptz,                  -- the deadline it was asked against
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by   text,
    decided_at   timestamptz,
    CHECK ((kind = 'extend') = (until IS NOT NULL))
);
CREATE INDEX case_requests_case ON case_requests (case_id, asked_at);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the sweep's columns to cases and the requests table."""
    del timescale, storage
    conn.execute(SCHEMA)
