"""Token lifecycle (issue 9 point 1): a name to list and revoke by, an expiry, last use; and
an acknowledgement's note, now that its actor comes from the token.

Tokens made before this migration have no name; the CLI names them by their ID (the first hex
digits of the stored SHA-256, which reveal nothing of the secret).
"""

from __future__ import annotations

from infra.database import Conn
from ingest.config import StorageSettings

SCHEMA = """
ALTER TABLE api_tokens ADD COLUMN name text;
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;     -- NULL: never expires
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;   -- refreshed at most once a minute
-- Names identify live tokens; a revoked one's name may be given again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- The acknowledger is now the token's actor, never a field the caller sends; its words are
-- kept beside it.
ALTER TABLE hazards ADD COLUMN acknowledged_note text;
"""


def apply(conn: Conn, *, timescale: bool, storage: StorageSettings) -> None:
    """Add the name, expiry and last-use columns (the same on both storage paths)."""
    del timescale, storage
    conn.execute(SCHEMA)
