"""Status reads from GB/T 26875.3 transmission devices (issue 11 point 4): a command kind each
for reading a facility system's status (type 61) and a part's (type 62), what the read names
(``target``: system type and address, a part's zone and position) and the device's ``answer``
(the status objects it sent back, flags named), kept as the read's outcome.
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE gateway_commands DROP CONSTRAINT gateway_commands_kind_check;
ALTER TABLE gateway_commands ADD CONSTRAINT gateway_commands_kind_check CHECK (kind IN
    ('clock_sync', 'duty_check', 'read_system_status', 'read_part_status'));
ALTER TABLE gateway_commands
    ADD COLUMN target jsonb,                   -- a read: the system (and part) it names
    ADD COLUMN answer jsonb;                   -- a read: the objects the device answered
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Widen the command kinds and add a read's target and answer (both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
