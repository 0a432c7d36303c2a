"""How far behind the rules role is: when the oldest batch it has not evaluated was committed."""

from __future__ import annotations

from datetime import datetime

from infra.database import Conn
from infra.eventlog import oldest_pending
from rules.engine.service import RULES_CONSUMER


def oldest_pending_batch(conn: Conn) -> datetime | None:
    """Return when the oldest batch the rules have not evaluated was committed; None: none."""
    return oldest_pending(conn, consumer=RULES_CONSUMER.name, kinds=RULES_CONSUMER.kinds)
