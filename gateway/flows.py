"""The gateway's TCP server: connections in, frames to the store, answers after the commit.

One asyncio loop serves every connection. A connection reads, re-frames
(``gateway.framing``), and puts each frame that needs an answer in the ``FrameQueue``, waiting
while it is full. One writer task takes batches (fire alarms first), stores them through
``FrameStore`` in a worker thread (blocking psycopg, ingest's own write path) and, only once
that returned (committed), sends each frame's confirm or deny on the connection it came from.
A frame whose connection closed meanwhile is stored all the same and goes unanswered: the
device resends it and the identities keep it once.

Bounds: ``max_connections`` (more are closed at accept), ``queue_frames``, the per-connection
re-framing buffer (one partial frame), ``idle_timeout_s`` of silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence

from devices.codecs.gb26875 import answers_duty_check, carries_fire
from devices.codecs.gb26875_frame import (
    ANSWER,
    CONFIRM,
    SEND_DATA,
    GbFrame,
    parse_frame,
    parse_header,
)
from devices.exceptions import DecodeError
from gateway import metrics, replies
from gateway.command_flows import CommandSender
from gateway.config import GatewaySettings
from gateway.framing import BadChecksum, Item, Reframer
from gateway.models import ConnectionStats, ReceivedFrame, Verdict
from gateway.queue import FrameQueue
from gateway.read_answers import answer_objects
from infra.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# Called with each batch in the writer thread, just before it is stored: tests use it to stop
# the gateway between a frame's receipt and its commit. Production passes none.
BeforeStore = Callable[[Sequence[ReceivedFrame]], None]
StoreFn = Callable[[Sequence[ReceivedFrame]], None]


class Connection:
    """One device's socket: reads frames in, writes answers out, keeps its counters."""

    def __init__(self, writer: asyncio.StreamWriter, *, clock: Clock, peer: str) -> None:
        self._writer = writer
        self._clock = clock
        self.stats = ConnectionStats(peer=peer, connected_at=clock.now())

    def close(self) -> None:
        """Close the socket (the device reconnects and resends what was not answered)."""
        self._writer.close()

    def send(self, data: bytes) -> None:
        """Write a frame of the centre's own (a command), unless the socket is gone."""
        if self._writer.is_closing():
            return
        self._writer.write(data)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)
        metrics.BYTES_OUT.inc(len(data))

    def answer(self, frame: ReceivedFrame) -> None:
        """Send the frame's confirm or deny, unless the socket is gone."""
        if self._writer.is_closing():
            return
        build = replies.confirm if frame.verdict is Verdict.CONFIRM else replies.deny
        now = self._clock.now()
        data = build(frame.head, now=now)
        self._writer.write(data)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(data)
        metrics.ANSWERS.labels(frame.verdict.value).inc()
        metrics.BYTES_OUT.inc(len(data))
        metrics.ANSWER_SECONDS.labels("yes" if frame.fire else "no").observe(
            (now - frame.received_at).total_seconds()
        )


class Gateway:
    """The server, its queue and its writer task; ``serve`` runs until ``stop``."""

    def __init__(
        self,
        store: StoreFn,
        *,
        settings: GatewaySettings,
        clock: Clock | None = None,
        before_store: BeforeStore | None = None,
        commands: CommandSender | None = None,
    ) -> None:
        self._store = store
        self._commands = commands
        self._settings = settings
        self._clock = clock or SystemClock()
        self._before_store = before_store
        self.connections: dict[int, Connection] = {}
        self.queue: FrameQueue | None = None
        self.port: int | None = None  # the port bound, once serving (0 in settings: any)
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._last_peer: dict[int, str] = {}  # address -> the ip:port it last spoke from
        self._handlers: set[asyncio.Task[None]] = set()  # one per open connection

    async def serve(self, host: str, port: int, *, ready: Callable[[], None] | None = None) -> None:
        """Listen on ``host:port`` and serve until ``stop``; raise what ended the writer."""
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stop_requested:  # stop came before the loop existed
            self._stopping.set()
        self.queue = FrameQueue(max_frames=self._settings.queue_frames)
        server = await asyncio.start_server(
            self._handle, host, port, limit=self._settings.read_bytes
        )
        self.port = server.sockets[0].getsockname()[1]
        writer = asyncio.create_task(self._write_loop(self.queue), name="gateway-writer")
        workers = {writer}
        if self._commands is not None:
            workers.add(asyncio.create_task(self._commands.run(self), name="gateway-commands"))
        if ready is not None:
            ready()
        log.info("GB/T 26875.3 gateway listening on %s:%d", host, self.port)
        try:
            stopped = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({*workers, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.close()
            for task in (*workers, stopped):
                task.cancel()
            for connection in list(self.connections.values()):
                connection.close()
            for handler in list(self._handlers):  # one may wait for room in the queue
                handler.cancel()
            await server.wait_closed()
        for task in workers:
            error = task.exception() if task.done() and not task.cancelled() else None
            if error is not None:
                raise error

    def stop(self) -> None:
        """Ask ``serve`` to return; callable from any thread, before or while it serves."""
        self._stop_requested = True
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stopping.set)

    async def _write_loop(self, queue: FrameQueue) -> None:
        while True:
            batch = await queue.take(
                max_frames=self._settings.batch_frames, linger_s=self._settings.linger_s
            )
            metrics.QUEUED.set(len(queue))
            await asyncio.to_thread(self._store_batch, batch)
            for frame in batch:  # durable now: the answers may go
                frame.peer.answer(frame)

    def _store_batch(self, batch: Sequence[ReceivedFrame]) -> None:
        if self._before_store is not None:
            self._before_store(batch)
        self._store(batch)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = writer.get_extra_info("peername")
        peer = f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)
        if len(self.connections) >= self._settings.max_connections:
            log.warning("refused %s: %d connections open", peer, len(self.connections))
            metrics.REFUSED.inc()
            writer.close()
            return
        connection = Connection(writer, clock=self._clock, peer=peer)
        key = id(connection)
        self.connections[key] = connection
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        metrics.CONNECTIONS.set(len(self.connections))
        reframer = Reframer()
        try:
            while True:
                data = await asyncio.wait_for(
                    reader.read(self._settings.read_bytes), self._settings.idle_timeout_s
                )
                if not data:
                    break
                stats = connection.stats
                stats.bytes_in += len(data)
                metrics.BYTES_IN.inc(len(data))
                skipped = reframer.skipped_bytes
                for item in reframer.feed(data):
                    await self._accept(connection, item)
                metrics.SKIPPED_BYTES.inc(reframer.skipped_bytes - skipped)
                stats.skipped_bytes = reframer.skipped_bytes
        except TimeoutError:
            log.info("closing %s: silent for %.0fs", peer, self._settings.idle_timeout_s)
        except ConnectionError as exc:
            log.info("connection %s ended: %s", peer, exc)
        finally:
            self._handlers.discard(handler)
            del self.connections[key]
            metrics.CONNECTIONS.set(len(self.connections))
            writer.close()

    async def _accept(self, connection: Connection, item: Item) -> None:
        assert self.queue is not None
        stats = connection.stats
        now = self._clock.now()
        stats.frames_in += 1
        stats.last_frame_at = now
        if isinstance(item, BadChecksum):
            head = parse_header(item.frame)
            detail = f"stored {item.stored:#04x}, computed {item.computed:#04x}"
            frame = ReceivedFrame(item.frame, head, Verdict.DENY, now, connection, detail=detail)
            metrics.FRAMES_IN.labels("bad_checksum").inc()
        else:
            head = parse_header(item)
            stats.address, stats.centre = head.source, head.destination
            self._note_peer(head.source, stats.peer)
            if head.command != SEND_DATA:
                # Confirms and answers to the centre's own commands: nothing to store or answer.
                metrics.FRAMES_IN.labels("other").inc()
                if self._commands is not None:
                    await self._note_reply(head, item)
                return
            parsed = _parse(item)
            fire = parsed is not None and carries_fire(parsed)
            frame = ReceivedFrame(item, head, Verdict.CONFIRM, now, connection, fire=fire)
            metrics.FRAMES_IN.labels("send_data").inc()
            if parsed is not None and self._commands is not None and answers_duty_check(parsed):
                await self._commands.note(("answered", head.source, head.serial, []))
        await self.queue.put(frame)
        metrics.QUEUED.set(len(self.queue))

    async def _note_reply(self, head: GbFrame, item: bytes) -> None:
        """Hand a confirm, or a read's answer with its objects, to the commands."""
        assert self._commands is not None
        if head.command == CONFIRM:
            await self._commands.note(("confirmed", head.source, head.serial, []))
        elif head.command == ANSWER:
            parsed = _parse(item)
            objects = answer_objects(parsed) if parsed is not None else []
            await self._commands.note(("read", head.source, head.serial, objects))

    def _note_peer(self, address: int, peer: str) -> None:
        # A device that comes back from another IP (a new SIM, a NAT) is logged: the operator
        # can tell a reconnect from a second device claiming the same address.
        previous = self._last_peer.pop(address, None)
        if previous is not None and previous.rpartition(":")[0] != peer.rpartition(":")[0]:
            log.info(
                "device at GB/T 26875 address %d now speaks from %s (was %s)",
                address,
                peer,
                previous,
            )
        self._last_peer[address] = peer  # re-inserted: the dict stays in last-heard order
        if len(self._last_peer) > 10 * self._settings.max_connections:
            del self._last_peer[next(iter(self._last_peer))]  # forget the longest unheard

    def connected_addresses(self) -> list[int]:
        """Return the addresses of the devices connected now (those that sent a frame)."""
        connections = list(self.connections.values())
        return sorted({c.stats.address for c in connections if c.stats.address is not None})

    def centre_of(self, address: int) -> int | None:
        """Return the centre address the device at ``address`` writes to, if connected."""
        connection = self._connection_of(address)
        return None if connection is None else connection.stats.centre

    def send_to(self, address: int, data: bytes) -> bool:
        """Write ``data`` to the device at ``address``; False when it is not connected."""
        connection = self._connection_of(address)
        if connection is None:
            return False
        connection.send(data)
        return True

    def _connection_of(self, address: int) -> Connection | None:
        # The newest connection that spoke with this address (a reconnect may overlap the old).
        found = [c for c in list(self.connections.values()) if c.stats.address == address]
        return max(found, key=lambda c: c.stats.connected_at, default=None)

    def snapshot(self) -> list[ConnectionStats]:
        """Return a copy of every open connection's counters (callable from any thread)."""
        # list() of a dict's values runs without releasing the GIL: no resize can interleave.
        return [dataclasses.replace(c.stats) for c in list(self.connections.values())]


def _parse(raw: bytes) -> GbFrame | None:
    try:
        return parse_frame(raw)
    except DecodeError:
        return None  # unparseable: the decoder will say why when it is stored
