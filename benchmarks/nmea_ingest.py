"""NMEA ingest rate: fixes committed end to end versus pynmea2's bare parse of the same sentences.

A backlog of NMEA messages (each terminal's minutes of walking, one message a minute: GGA,
2 x GSA, RMC a second, as simulators.nmea_out writes them) is published to a persistent session
while FireGrid's ingest is away; then ingest connects and the clock runs until the last fix is
committed to PostgreSQL (publish → decode → jump check → COPY → commit → PUBACK). In the same
run, pynmea2.parse() is timed over every sentence of the same messages, with no dating, checks
or storage. Prints both as fixes per second and the ratio.

    python benchmarks/nmea_ingest.py [--terminals 100] [--minutes 30] [--repeats 3] [--db-url URL]

Without --db-url an embedded PostgreSQL is started in a temporary directory; the broker is
always FireGrid's embedded Mosquitto (queue limits raised, see firegrid/mosquitto.conf).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import pynmea2
from _common import ingest_service, publish_backlog, register_devices, sample, services

from ingest.config import IngestSettings
from simulators.nmea_out import SimFix, write

START = datetime(2026, 11, 1, tzinfo=UTC)


def payloads(
    prefix: str, terminals: list[str], minutes: int, run: int
) -> tuple[list[tuple[str, bytes]], int]:
    """Build one run's messages (each run on its own day, so no fix repeats); count fixes."""
    out = []
    start = START + timedelta(days=run)
    for k, terminal in enumerate(terminals):
        lat0, lon0 = 31.20 + (k % 20) * 0.005, 121.50 + (k // 20) * 0.005
        for m in range(minutes):
            fixes = [
                SimFix(
                    ts=start + timedelta(seconds=60 * m + s),
                    lat=lat0 + (60 * m + s) * 9e-6,
                    lon=lon0 + (60 * m + s) * 9e-6,
                    speed_mps=1.4,
                )
                for s in range(60)
            ]
            out.append((f"{prefix}/t/{terminal}/nmea", write(fixes)))
    return out, len(terminals) * minutes * 60


def pynmea2_seconds(msgs: list[tuple[str, bytes]]) -> float:
    """Seconds pynmea2 takes to parse every sentence of ``msgs`` (best of 3)."""
    lines = [line.decode("ascii") for _, p in msgs for line in p.splitlines() if line]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for line in lines:
            pynmea2.parse(line)
        best = min(best, time.perf_counter() - t0)
    return best


def firegrid_seconds(
    broker_url: str, db_url: str, msgs: list[tuple[str, bytes]], prefix: str, fixes: int
) -> float:
    """Seconds FireGrid's ingest takes to commit every fix of the backlog."""
    settings = IngestSettings(topic_prefix=prefix, client_id=f"bench-nmea-{uuid.uuid4().hex[:6]}")
    publish_backlog(broker_url, db_url, settings, msgs)
    before = sample("firegrid_fixes_stored_total")
    svc = ingest_service(broker_url, db_url, settings)
    started = time.perf_counter()
    svc.start()
    deadline = started + 600
    while sample("firegrid_fixes_stored_total") - before < fixes:
        if time.perf_counter() > deadline:
            raise SystemExit("FireGrid did not commit the backlog within 600 s")
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    svc.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--minutes", type=int, default=30, help="per terminal, one message each")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with services(args.db_url, tmp_prefix="fg-bench-nmea-") as (broker_url, db_url):
        tag = uuid.uuid4().hex[:6]
        terminals = [f"BENCH-T{tag}-{i:04d}" for i in range(args.terminals)]
        register_devices(db_url, terminals, kind="terminal")
        ours, theirs = [], []
        for run in range(args.repeats):
            prefix = f"bench{uuid.uuid4().hex[:6]}/v1"
            msgs, fixes = payloads(prefix, terminals, args.minutes, run)
            theirs.append(fixes / pynmea2_seconds(msgs))
            ours.append(fixes / firegrid_seconds(broker_url, db_url, msgs, prefix, fixes))
        a, b = statistics.median(theirs), statistics.median(ours)
        sentences = 4 * fixes
        print(
            f"{len(msgs):,} messages, {sentences:,} sentences, {fixes:,} fixes per run "
            f"(medians of {args.repeats})"
        )
        print(f"  pynmea2 bare parse (no dating, checks or storage): {a:>10,.0f} fixes/s")
        print(f"  FireGrid MQTT -> decode -> PostgreSQL committed:   {b:>10,.0f} fixes/s")
        print(f"  ratio FireGrid / pynmea2: {b / a:.2f}")


if __name__ == "__main__":
    main()
