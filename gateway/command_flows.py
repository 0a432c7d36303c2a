"""Sending the centre's commands to connected devices and settling them from their answers.

Runs as a task beside the gateway's server: every ``poll_s`` it takes the stored commands due
for devices connected now (new, or sent ``RESEND_AFTER_S`` ago without a confirm or, for a read,
an answer), sends them on the device's connection, and gives one up after ``MAX_ATTEMPTS``. The
connections report the device's confirms, duty-check answers and read answers here (``note``),
which settle the commands. A database
that is away only delays the commands: the task waits and reconnects, the data path goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

import psycopg

from gateway import command_service as service
from gateway.commands import MAX_ATTEMPTS, RESEND_AFTER_S, command_frame
from infra.clock import Clock

log = logging.getLogger(__name__)

# Stores a device event per missed duty check (through ingest's path, in a worker thread).
RecordMissed = Callable[[Sequence[service.MissedCheck]], None]
# (what, device address, serial, a read's answer objects: empty for the others)
Note = tuple[Literal["confirmed", "answered", "read"], int, int, list[dict[str, Any]]]


class Speaker(Protocol):
    """What the commands need of the server: who is connected, and a way to each."""

    def connected_addresses(self) -> list[int]:
        """Return the addresses of the devices connected now."""
        ...

    def centre_of(self, address: int) -> int | None:
        """Return the centre address the device at ``address`` writes to, if connected."""
        ...

    def send_to(self, address: int, data: bytes) -> bool:
        """Write ``data`` to the device at ``address``; False when it is not connected."""
        ...


class CommandSender:
    """Sends due commands and settles them; ``note`` is called from the connections."""

    def __init__(
        self,
        db_url: str,
        *,
        clock: Clock,
        poll_s: float = 1.0,
        resend_after_s: float = RESEND_AFTER_S,
        attempts: int = MAX_ATTEMPTS,
        record_missed: RecordMissed | None = None,
    ) -> None:
        self._db_url = db_url
        self._resend_after_s = resend_after_s
        self._attempts = attempts
        self._record_missed = record_missed
        self._clock = clock
        self._poll_s = poll_s
        self._notes: asyncio.Queue[Note] = asyncio.Queue(maxsize=10_000)
        self._serial = 0

    async def note(self, note: Note) -> None:
        """Hand over a confirm, a duty-check answer or a read's answer (with its objects)."""
        await self._notes.put(note)

    async def run(self, speaker: Speaker) -> None:
        """Send and settle commands until cancelled."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._db_url, autocommit=True
                ) as conn:
                    await self._serve(conn, speaker)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("gateway commands wait for the database: %s", exc)
                await asyncio.sleep(self._poll_s)

    async def _serve(self, conn: psycopg.AsyncConnection[object], speaker: Speaker) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            timeout = max(0.0, next_poll - loop.time())
            note: Note | None = None
            with contextlib.suppress(TimeoutError):
                note = await asyncio.wait_for(self._notes.get(), timeout)
            if note is not None:
                await self._settle(conn, note)
            if loop.time() >= next_poll:
                await self._send_due(conn, speaker, self._clock.now())
                next_poll = loop.time() + self._poll_s

    async def _settle(self, conn: psycopg.AsyncConnection[object], note: Note) -> None:
        what, address, serial, answer = note
        if what == "confirmed":
            await service.mark_confirmed(conn, address=address, serial=serial)
        elif what == "read":
            await service.mark_read(conn, address=address, serial=serial, answer=answer)
        else:
            await service.mark_answered(conn, address=address)

    async def _send_due(
        self, conn: psycopg.AsyncConnection[object], speaker: Speaker, now: datetime
    ) -> None:
        missed = await service.missed_duty_checks(conn)
        if missed:
            # The missed event first, durably (it opens a hazard through the rules); a crash
            # before the mark writes it again, and its identity keeps it once.
            if self._record_missed is not None:
                await asyncio.to_thread(self._record_missed, missed)
            await service.mark_unanswered(conn, ids=[m.id for m in missed])
        due = await service.due_commands(
            conn, addresses=speaker.connected_addresses(), resend_after_s=self._resend_after_s
        )
        for command in due:
            if command.attempts >= self._attempts:
                await service.mark_unconfirmed(conn, command_id=command.id)
                continue
            centre = speaker.centre_of(command.address)
            if centre is None:
                continue  # gone since the addresses were read
            self._serial = self._serial % 0xFFFF + 1
            frame = command_frame(
                command.kind,
                serial=self._serial,
                centre=centre,
                device=command.address,
                now=now,
                answer_within_min=command.answer_within_min,
                target=command.target,
            )
            if speaker.send_to(command.address, frame):
                await service.mark_sent(conn, command_id=command.id, serial=self._serial)
