"""Replay stored rejected messages once what refused them is fixed.

A message from a device nobody had registered yet is kept as ``unknown_device`` (CONTRACT §1:
nothing is lost). Once the integrator imports the device, ``replay_rejected`` feeds those
messages through the same decode-and-store path as live ones, with their original receive
time, so every verdict that does not depend on the registry (ranges, future time, ...) is the
same as the first time. Replaying is idempotent: a sample stored twice is stored once, each
replayed row is marked ``replayed_at`` and not replayed again, and what is refused again is a
new rejected row with its new reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import psycopg

from devices.service import devices_by_gb26875_address
from infra.database import Conn
from ingest.config import IngestSettings, StorageSettings
from ingest.flows import BatchWriter
from ingest.models import InboundMessage
from ingest.topics import GATEWAY_CODEC, device_topic, gateway_address

# Verdicts that a registry import can change; others would only be refused again.
REGISTRY_REASONS: Final = ("unknown_device", "unknown_terminal")
_CHUNK: Final = 1000
_Row = tuple[int, str, bytes, datetime]  # id, topic, payload, received_at

_PENDING: Final = """
SELECT id, topic, payload, received_at FROM rejected_messages
WHERE replayed_at IS NULL AND reason = ANY(%s) AND starts_with(topic, %s)
  AND received_at >= coalesce(%s, '-infinity'::timestamptz) AND id > %s AND id <= %s
ORDER BY id LIMIT %s
"""


@dataclass
class ReplayOutcome:
    """What a replay fed through ingest and what it stored."""

    messages: int = 0
    readings: int = 0
    events: int = 0
    fixes: int = 0
    reports: int = 0
    photos: int = 0
    duplicates: int = 0
    rejected_again: int = 0
    still_unknown: int = 0  # gateway frames whose address no device holds yet: left pending
    batches: list[int] = field(default_factory=list)


def replay_rejected(
    conn: Conn,
    writer: BatchWriter,
    *,
    prefix: str,
    reasons: Sequence[str] = REGISTRY_REASONS,
    since: datetime | None = None,
) -> ReplayOutcome:
    """Feed the unreplayed rejections with ``reasons`` under ``prefix`` through ``writer``."""
    outcome = ReplayOutcome()
    last_id = 0
    # Only what was stored before the replay began: a message refused again for the same reason
    # (its device still unknown) is a new row under the same reason and receive time, and
    # without this bound the replay would feed it again, and its successor, for ever.
    row = conn.execute("SELECT coalesce(max(id), 0) FROM rejected_messages").fetchone()
    upto = row[0] if row is not None else 0
    while True:
        fetched = conn.execute(
            _PENDING, (list(reasons), f"{prefix}/", since, last_id, upto, _CHUNK)
        ).fetchall()
        if not fetched:
            return outcome
        last_id = fetched[-1][0]
        rows, waiting = _gateway_to_device(conn, fetched, prefix=prefix)
        outcome.still_unknown += waiting
        if not rows:
            continue
        messages = [
            InboundMessage(topic, bytes(payload), 0, 0, 0, received_at)
            for _, topic, payload, received_at in rows
        ]
        for result in writer.write(messages):
            outcome.readings += result.readings
            outcome.events += result.events
            outcome.fixes += result.fixes
            outcome.reports += result.reports
            outcome.photos += result.photos
            outcome.duplicates += result.duplicates
            outcome.rejected_again += result.rejected + len(result.late_rejections)
            outcome.batches.append(result.batch_id)
        ids = [row[0] for row in rows]
        # Marked after the write committed: a crash in between replays them again, which the
        # identities make harmless.
        conn.execute("UPDATE rejected_messages SET replayed_at = now() WHERE id = ANY(%s)", (ids,))
        outcome.messages += len(rows)


def _gateway_to_device(conn: Conn, rows: list[_Row], *, prefix: str) -> tuple[list[_Row], int]:
    """Give frames the gateway kept under their address the topic of the device now holding it.

    Returns the rows to replay and how many wait on. A frame whose address is still unregistered
    stays as it is, unreplayed, for the next replay: refusing it again would only copy it.
    """
    addresses = {
        row[0]: address
        for row in rows
        if (address := gateway_address(row[1], prefix=prefix)) is not None
    }
    if not addresses:
        return rows, 0
    holders = devices_by_gb26875_address(conn, addresses=sorted(set(addresses.values())))
    out: list[_Row] = []
    for row in rows:
        address = addresses.get(row[0])
        if address is None:
            out.append(row)
        elif address in holders:
            topic = device_topic(prefix=prefix, device_id=holders[address], codec=GATEWAY_CODEC)
            out.append((row[0], topic, row[2], row[3]))
    return out, len(rows) - len(out)


def replay_stored(
    db_url: str,
    *,
    settings: IngestSettings,
    storage: StorageSettings,
    data_dir: Path | None,
    reasons: Sequence[str] = REGISTRY_REASONS,
    since: datetime | None = None,
) -> ReplayOutcome:
    """Replay as ``replay_rejected`` does, with a writer and a connection of its own."""
    writer = BatchWriter(db_url=db_url, settings=settings, storage=storage, data_dir=data_dir)
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            return replay_rejected(
                conn, writer, prefix=settings.topic_prefix, reasons=reasons, since=since
            )
    finally:
        writer.close()
