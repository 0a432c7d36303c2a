"""The GB/T 26875.3 gateway: frames decoded per second, and fire-alarm frame → confirm latency.

1. Decoding. A stream of frames (part-status fire alarms like F1 and analog values like F3, cut
   into 4 KiB reads) through FireGrid's re-framer, header parse and the gb26875 decoder into
   records, against a baseline of bare ``struct`` unpacking of the same frames (header and
   object, checksum summed, no records).
2. Latency. A simulated transmission device sends fire alarms one at a time; each is timed from
   its send to the centre's confirm, which FireGrid sends only after the commit. Idle, and again
   while ``--devices`` other connections send analog values every ``--interval-s``. The baseline
   is a bare asyncio server that answers each frame at once (the network and Python floor).

    python benchmarks/gb26875_gateway.py [--frames 50000] [--alarms 200] [--devices 1000]
                                 [--interval-s 5] [--db-url URL]

Without --db-url an embedded PostgreSQL is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from _common import services

from devices.codecs import gb26875
from devices.codecs.gb26875_frame import (
    CST,
    AnalogValue,
    GbFrame,
    GbObject,
    PartStatus,
    encode,
    parse_header,
    unit_length,
)
from devices.models import DecodePolicy
from gateway.config import GatewaySettings
from gateway.framing import Reframer
from gateway.role import GatewayRole
from ingest.config import IngestSettings, StorageSettings
from rules.flows import RulesService
from simulators.transmission import TransmissionDevice

_HEADER = struct.Struct("<HBB6s6s6sHB")
_PART = struct.Struct("<BBBHHH31s6s")
_ANALOG = struct.Struct("<BBBHHBh6s")


def frames(count: int, address: int = 889) -> list[bytes]:
    """Return ``count`` send-data frames: every 10th a fire alarm, the rest analog values."""
    sim = TransmissionDevice("127.0.0.1", 1, address=address)
    at = datetime(2026, 12, 1, 8, 0, tzinfo=CST)
    out = []
    for i in range(count):
        when = at + timedelta(seconds=i)
        if i % 10 == 0:
            obj: GbObject = PartStatus(1, 1, 40, i % 100, i % 7, 2, "感烟", when)
            out.append(sim.frame(2, [obj])[1])
        else:
            out.append(sim.frame(3, [AnalogValue(11, 1, 0, 5, 1, 5, 3200, when)])[1])
    return out


def bare_parse(stream: list[bytes]) -> int:
    """Baseline: unpack header and object of each (already separated) frame."""
    objects = 0
    for frame in stream:
        _HEADER.unpack_from(frame, 2)
        sum(frame[2:-3])
        layout = _PART if frame[27] == 2 else _ANALOG
        for offset in range(29, 27 + unit_length(frame), layout.size):
            layout.unpack_from(frame, offset)
            objects += 1
    return objects


def firegrid_decode(stream: bytes) -> int:
    """FireGrid: re-frame 4 KiB reads, parse headers, decode each frame into records."""
    reframer = Reframer()
    policy = DecodePolicy()
    now = datetime(2026, 12, 3, tzinfo=UTC)  # after every frame: none is in the future
    records = 0
    for start in range(0, len(stream), 4096):
        for item in reframer.feed(stream[start : start + 4096]):
            assert isinstance(item, bytes)
            parse_header(item)
            out = gb26875.decode(item, device_id="BENCH", received_at=now, policy=policy)
            records += len(out.records)
    return records


def rate(label: str, fn: object, count: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    per_s = count / best
    print(f"  {label:<44} {per_s:>12,.0f} frames/s")
    return per_s


def percentiles(label: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(
        f"  {label:<44} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   max {ms[-1]:7.2f} ms (n={len(ms)})"
    )


def alarms_latency(
    port: int, addresses: list[int], db_url: str | None = None, prefix: str = ""
) -> tuple[list[float], list[float]]:
    """Send one fire alarm from each address in turn; return send -> confirm latencies and,
    with ``db_url``, send -> ``hazard.opened`` on the event log (what the live feed serves)."""
    confirms, feed = [], []
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    conn = psycopg.connect(db_url, autocommit=True) if db_url else None
    try:
        for i, address in enumerate(addresses):
            with TransmissionDevice("127.0.0.1", port, address=address) as panel:
                panel.connect()
                started = time.monotonic()
                sent = panel.fire_alarm(3, 7, at=at + timedelta(seconds=i))
                assert sent.confirmed, sent
                assert sent.latency_s is not None
                confirms.append(sent.latency_s)
                if conn is not None:
                    feed.append(_until_hazard_opened(conn, f"{prefix}-{address}") - started)
            time.sleep(0.02)
    finally:
        if conn is not None:
            conn.close()
    return confirms, feed


def _until_hazard_opened(conn: psycopg.Connection[tuple[object, ...]], device_id: str) -> float:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT 1 FROM event_log e JOIN hazards h ON h.id::text = e.subject"
            " WHERE e.kind = 'hazard.opened' AND h.device_id = %s",
            (device_id,),
        ).fetchone()
        if row is not None:
            return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError(f"no hazard.opened for {device_id}")


class Load:
    """``devices`` connections sending one analog value each every ``interval_s``."""

    def __init__(self, port: int, addresses: list[int], interval_s: float) -> None:
        self._port, self._addresses, self._interval = port, addresses, interval_s
        self._stop = threading.Event()
        self.confirmed = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _main(self) -> None:
        await asyncio.gather(
            *(self._device(a, i) for i, a in enumerate(self._addresses)), return_exceptions=True
        )

    async def _device(self, address: int, index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        sim = TransmissionDevice("127.0.0.1", self._port, address=address)
        await asyncio.sleep(self._interval * index / len(self._addresses))  # spread the sends
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        n = 0
        while not self._stop.is_set():
            obj = AnalogValue(11, 1, 0, 5, 1, 5, 3000 + n % 500, at + timedelta(seconds=n))
            writer.write(sim.frame(3, [obj])[1])
            await reader.readexactly(30)
            self.confirmed += 1
            n += 1
            await asyncio.sleep(self._interval)
        writer.close()


async def _bare_server(ready: threading.Event, port_box: list[int], stop: threading.Event) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            head = parse_header(data)
            reply = GbFrame(
                serial=head.serial,
                time=datetime.now(UTC),
                source=head.destination,
                destination=head.source,
                command=3,
            )
            writer.write(encode(reply))
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port_box.append(server.sockets[0].getsockname()[1])
    ready.set()
    await asyncio.to_thread(stop.wait)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--interval-s", type=float, default=5.0)
    parser.add_argument("--db-url")
    args = parser.parse_args()

    print(f"decoding {args.frames:,} frames (1 in 10 a fire alarm):")
    stream = frames(args.frames)
    joined = b"".join(stream)
    assert firegrid_decode(joined) == args.frames
    base = rate("baseline: bare struct unpacking", lambda: bare_parse(stream), args.frames)
    ours = rate(
        "FireGrid: re-frame + header + decode to records",
        lambda: firegrid_decode(joined),
        args.frames,
    )
    print(f"  FireGrid runs at {ours / base:.2f}x the bare parse")

    print("fire alarm frame -> confirm (-> hazard.opened on the live feed's log):")
    ready, stop, box = threading.Event(), threading.Event(), []
    bare = threading.Thread(target=lambda: asyncio.run(_bare_server(ready, box, stop)), daemon=True)
    bare.start()
    ready.wait(10)
    bare_confirms, _ = alarms_latency(box[0], list(range(1, args.alarms + 1)))
    percentiles("baseline: bare asyncio server, no database", bare_confirms)
    stop.set()

    with services(args.db_url, tmp_prefix="fg-bench-gw-") as (_broker, db_url):
        tag = uuid.uuid4().hex[:6]
        prefix = f"BENCH-{tag}"
        load_addresses = list(range(10_000, 10_000 + args.devices))
        idle_alarms = list(range(100_000, 100_000 + args.alarms))
        busy_alarms = list(range(200_000, 200_000 + args.alarms))
        with psycopg.connect(db_url) as conn:
            addresses = load_addresses + idle_alarms + busy_alarms
            # A database used before keeps the last run's devices: they give their addresses up.
            conn.execute(
                "UPDATE devices SET gb26875_address = NULL WHERE gb26875_address = ANY(%s)",
                (addresses,),
            )
            conn.execute(
                "INSERT INTO devices (device_id, kind, gb26875_address)"
                " SELECT %s || '-' || a, 'transmission', a FROM unnest(%s::int8[]) a"
                " ON CONFLICT (device_id) DO NOTHING",
                (prefix, addresses),
            )
        role = GatewayRole(
            listen="127.0.0.1:0",
            db_url=db_url,
            settings=GatewaySettings(max_connections=args.devices + 10),
            ingest=IngestSettings(topic_prefix=f"bench{tag}/v1"),
            storage=StorageSettings(),
        )
        rules = RulesService(db_url=db_url)
        role.start()
        rules.start()
        while role.health().state != "running" or rules.health().state != "running":
            time.sleep(0.05)
        port = role.gateway.port
        assert port is not None
        try:
            confirms, feed = alarms_latency(port, idle_alarms, db_url, prefix)
            percentiles("FireGrid idle: -> confirm (after the commit)", confirms)
            percentiles("FireGrid idle: -> hazard.opened", feed)
            with Load(port, load_addresses, args.interval_s) as load:
                time.sleep(args.interval_s * 1.5)  # every device connected and sending
                before = load.confirmed
                started = time.monotonic()
                confirms, feed = alarms_latency(port, busy_alarms, db_url, prefix)
                load_rate = (load.confirmed - before) / (time.monotonic() - started)
            busy = f"{args.devices} devices sending ({load_rate:,.0f} frames/s)"
            percentiles(f"FireGrid, {busy}: -> confirm", confirms)
            percentiles(f"FireGrid, {busy}: -> hazard.opened", feed)
        finally:
            rules.stop()
            role.stop()


if __name__ == "__main__":
    main()
