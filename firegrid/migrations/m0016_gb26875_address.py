"""GB/T 26875.3 addresses of transmission devices (issue 11 point 2).

A user-information transmission device names itself on TCP by the 6-byte source address of its
frames; the registry maps that address to the device's ID, as an MQTT topic carries the ID. The
column holds the address as the frame's little-endian field reads, in decimal; one device per
address, so an address is never ambiguous about who is speaking.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE devices ADD COLUMN gb26875_address bigint
    CHECK (gb26875_address BETWEEN 0 AND 281474976710655);  -- 6 bytes
CREATE UNIQUE INDEX devices_gb26875_address ON devices (gb26875_address)
    WHERE gb26875_address IS NOT NULL;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the address column and its unique index (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
