"""Commands from the centre to GB/T 26875.3 transmission devices (issue 11 point 4).

A command is asked for (API), sent by the gateway to the device's connection, resent every 10 s
up to 3 times until the device confirms it, and for a duty check (查岗) answered by the unit's
operator at the device. Each keeps its outcome and, for a duty check, the response time.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE gateway_commands (
    id            bigserial PRIMARY KEY,
    device_id     text NOT NULL REFERENCES devices ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('clock_sync', 'duty_check')),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN
                  ('pending', 'sent', 'confirmed', 'answered', 'unconfirmed', 'unanswered')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    requested_by  text,
    attempts      integer NOT NULL DEFAULT 0,
    serial        integer,                     -- of the last frame sent
    first_sent_at timestamptz,
    sent_at       timestamptz,                 -- of the last attempt
    confirmed_at  timestamptz,
    answered_at   timestamptz,                 -- a duty check's answer from the operator
    response_s    double precision,            -- answered_at - first_sent_at
    answer_by     timestamptz                  -- a duty check unanswered past this is overdue
);
CREATE INDEX gateway_commands_open ON gateway_commands (device_id, id)
    WHERE status IN ('pending', 'sent', 'confirmed');
CREATE INDEX gateway_commands_device ON gateway_commands (device_id, requested_at DESC);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the commands table (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
