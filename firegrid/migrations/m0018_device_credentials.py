"""Broker credentials of devices and terminals (issue 10 point 1): hashes only, never secrets.

One row per MQTT username (a device's or terminal's ID). ``scope`` is the topic namespace the
username may publish under (``d``: ``fg/v1/d/{id}/...``, ``t``: ``fg/v1/t/{id}/...`` and read
its inbox). The hash is PBKDF2-HMAC-SHA512 over the secret with ``salt`` (12 ASCII characters),
hex: the scheme Mosquitto's dynamic-security plugin stores (base64 of the same bytes) and EMQX's
PostgreSQL authenticator checks (``pbkdf2``, ``mac_fun = sha512``), so either broker reads it.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
CREATE TABLE device_credentials (
    username       text PRIMARY KEY,           -- the device or terminal ID
    scope          text NOT NULL CHECK (scope IN ('d', 't')),
    password_hash  text NOT NULL,              -- hex PBKDF2-HMAC-SHA512, 64 bytes
    salt           text NOT NULL,              -- 12 ASCII characters, used as bytes
    iterations     integer NOT NULL CHECK (iterations > 0),
    disabled_at    timestamptz,                -- set: the broker refuses the username
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz NOT NULL DEFAULT now()
);
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Create the credentials table (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
