"""SQL of the centre's commands: asked for (API, sync), sent and settled (gateway, async)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row as async_class_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from gateway.commands import CommandKind, ReadTarget
from gateway.exceptions import CommandTargetError
from infra.database import Conn, class_row


class StoredCommand(BaseModel):
    """One command as stored and shown."""

    model_config = ConfigDict(frozen=True)

    id: int
    device_id: str
    kind: CommandKind
    status: str  # pending, sent, confirmed, answered, unconfirmed, unanswered
    requested_at: datetime
    requested_by: str | None
    attempts: int
    first_sent_at: datetime | None
    confirmed_at: datetime | None
    answered_at: datetime | None
    response_s: float | None
    answer_by: datetime | None
    target: ReadTarget | None = None  # a read: the system (and part) it names
    answer: list[dict[str, Any]] | None = None  # a read: the status objects the device sent


class DueCommand(BaseModel):
    """A command the gateway should send (again) now."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: CommandKind
    address: int
    attempts: int
    answer_within_min: int
    target: ReadTarget | None = None


_COLUMNS = (
    "id, device_id, kind, status, requested_at, requested_by, attempts, first_sent_at,"
    " confirmed_at, answered_at, response_s, answer_by, target, answer"
)


def request_command(
    conn: Conn,
    *,
    device_id: str,
    kind: CommandKind,
    by: str | None,
    answer_within_min: int,
    target: ReadTarget | None = None,
) -> StoredCommand:
    """Store a command for the gateway to send; a duty check is due within the minutes given,
    a read names ``target`` (kept only for reads).

    Raises ``CommandTargetError`` for a device not registered or without an address.
    """
    row = conn.execute(
        "SELECT gb26875_address FROM devices WHERE device_id = %s", (device_id,)
    ).fetchone()
    if row is None or row[0] is None:
        raise CommandTargetError(device_id, registered=row is not None)
    with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        cur.execute(
            f"INSERT INTO gateway_commands (device_id, kind, requested_by, answer_by, target)"
            f" VALUES (%s, %s, %s, CASE WHEN %s = 'duty_check'"
            f" THEN now() + make_interval(mins => %s) END, %s) RETURNING {_COLUMNS}",
            (device_id, kind.value, by, kind.value, answer_within_min, _target(kind, target)),
        )
        row = cur.fetchone()
    assert row is not None
    return row


def _target(kind: CommandKind, target: ReadTarget | None) -> Jsonb | None:
    if not kind.is_read:
        return None
    return Jsonb((target or ReadTarget()).model_dump(exclude_none=True))


def list_commands(conn: Conn, *, device_id: str, limit: int) -> list[StoredCommand]:
    """Return a device's commands, newest first."""
    with conn.cursor(row_factory=class_row(StoredCommand)) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM gateway_commands WHERE device_id = %s ORDER BY id DESC"
            " LIMIT %s",
            (device_id, limit),
        )
        return cur.fetchall()


_DUE = """
SELECT c.id, c.kind, d.gb26875_address AS address, c.attempts,
       greatest(1, ceil(extract(epoch FROM c.answer_by - c.requested_at) / 60))::int
           AS answer_within_min, c.target
FROM gateway_commands c JOIN devices d USING (device_id)
WHERE d.gb26875_address = ANY(%s)
  AND (c.status = 'pending'
       OR (c.status = 'sent' AND c.sent_at < now() - make_interval(secs => %s)))
ORDER BY c.id LIMIT 500
"""


async def due_commands(
    conn: AsyncConnection[object], *, addresses: list[int], resend_after_s: float
) -> list[DueCommand]:
    """Return the commands to send now to the connected ``addresses``."""
    if not addresses:
        return []
    async with conn.cursor(row_factory=async_class_row(DueCommand)) as cur:
        await cur.execute(_DUE, (addresses, resend_after_s))
        return await cur.fetchall()


async def mark_sent(conn: AsyncConnection[object], *, command_id: int, serial: int) -> None:
    """Record one more attempt, under ``serial``."""
    await conn.execute(
        "UPDATE gateway_commands SET status = 'sent', attempts = attempts + 1, serial = %s,"
        " sent_at = now(), first_sent_at = coalesce(first_sent_at, now()) WHERE id = %s",
        (serial, command_id),
    )


async def mark_unconfirmed(conn: AsyncConnection[object], *, command_id: int) -> None:
    """Give a command up: every attempt went unconfirmed (a read's: unanswered)."""
    await conn.execute(
        "UPDATE gateway_commands SET status = CASE WHEN kind IN"
        " ('read_system_status', 'read_part_status') THEN 'unanswered' ELSE 'unconfirmed' END"
        " WHERE id = %s",
        (command_id,),
    )


async def mark_confirmed(conn: AsyncConnection[object], *, address: int, serial: int) -> None:
    """Settle the sent command the device's confirm echoes (a clock sync is then done)."""
    await conn.execute(
        "UPDATE gateway_commands c SET status = 'confirmed', confirmed_at = now()"
        " FROM devices d WHERE d.device_id = c.device_id AND d.gb26875_address = %s"
        " AND c.status = 'sent' AND c.serial = %s",
        (address, serial),
    )


async def mark_read(
    conn: AsyncConnection[object], *, address: int, serial: int, answer: list[dict[str, Any]]
) -> None:
    """Settle the sent read the device's answer echoes: keep what it answered, and how fast."""
    await conn.execute(
        "UPDATE gateway_commands c SET status = 'answered', answered_at = now(),"
        " response_s = extract(epoch FROM now() - c.first_sent_at), answer = %s"
        " FROM devices d WHERE d.device_id = c.device_id AND d.gb26875_address = %s"
        " AND c.status IN ('sent', 'confirmed') AND c.serial = %s"
        " AND c.kind IN ('read_system_status', 'read_part_status')",
        (Jsonb(answer), address, serial),
    )


async def mark_answered(conn: AsyncConnection[object], *, address: int) -> None:
    """Settle the device's oldest open duty check: its operator answered."""
    await conn.execute(
        """
        UPDATE gateway_commands SET status = 'answered', answered_at = now(),
               response_s = extract(epoch FROM now() - first_sent_at)
        WHERE id = (SELECT c.id FROM gateway_commands c JOIN devices d USING (device_id)
                    WHERE d.gb26875_address = %s AND c.kind = 'duty_check'
                      AND c.status IN ('sent', 'confirmed')
                    ORDER BY c.id LIMIT 1)
        """,
        (address,),
    )


class MissedCheck(BaseModel):
    """A duty check whose answer time passed without an answer."""

    model_config = ConfigDict(frozen=True)

    id: int
    device_id: str
    answer_by: datetime
    first_sent_at: datetime | None  # None: never sent (the device was not connected)


async def missed_duty_checks(conn: AsyncConnection[object]) -> list[MissedCheck]:
    """Return the open duty checks whose answer time has passed."""
    async with conn.cursor(row_factory=async_class_row(MissedCheck)) as cur:
        await cur.execute(
            "SELECT id, device_id, answer_by, first_sent_at FROM gateway_commands"
            " WHERE kind = 'duty_check' AND status IN ('pending', 'sent', 'confirmed')"
            " AND answer_by < now() ORDER BY id LIMIT 500"
        )
        return await cur.fetchall()


async def mark_unanswered(conn: AsyncConnection[object], *, ids: list[int]) -> None:
    """Mark duty checks as unanswered (after their missed event was stored)."""
    await conn.execute(
        "UPDATE gateway_commands SET status = 'unanswered' WHERE id = ANY(%s)", (ids,)
    )
