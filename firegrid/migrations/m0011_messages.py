"""Messages sent from case events: the terminals' inbox and the webhook's deliveries.

``inbox_messages`` records what the inbox role published and the broker acknowledged; it is
written in the transaction that moves the role's cursor, so a row exists exactly when its event
is done. ``webhook_deliveries`` is the webhook's queue and record in one: a row per event to
POST, its attempts, the last answer, when to try again, and how it ended (delivered, or failed
after the last attempt and listed for replay). The body is kept because the log is pruned.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE inbox_messages (
    message_id  uuid PRIMARY KEY,             -- uuid5 of (event id, notify index): stable
    event_id    bigint NOT NULL,
    terminal_id text NOT NULL,
    kind        text NOT NULL,                -- case_assigned, reminder, escalation, ...
    case_id     text NOT NULL,
    sent_at     timestamptz NOT NULL,         -- handed to the broker
    acked_at    timestamptz NOT NULL          -- its PUBACK arrived
);
CREATE INDEX inbox_messages_terminal ON inbox_messages (terminal_id, sent_at);
CREATE INDEX inbox_messages_case ON inbox_messages (case_id);

CREATE TABLE webhook_deliveries (
    event_id        bigint PRIMARY KEY,       -- also the webhook-id: stable across retries
    kind            text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,            -- the JSON POSTed, byte for byte on every try
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,                  -- the HTTP status of the last try; NULL: none
    last_error      text,                     -- why the last try failed
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,              -- NULL once delivered or failed
    delivered_at    timestamptz,
    failed_at       timestamptz,              -- gave up after max attempts: listed, replayable
    replays         integer NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (failed_at, event_id)
    WHERE failed_at IS NOT NULL;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the inbox and webhook records (plain tables on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
