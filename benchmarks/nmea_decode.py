"""NMEA decode rate: FireGrid's decoder versus pynmea2's bare parse of the same sentences.

Two payloads: a one-hour buffered flush from the receiver writer (GGA, 2 x GSA, RMC a second)
and the real beidou-bd.log (GGA, GNS, GSA, GSV, RMC and $PSRF a second) sent 720 times.
FireGrid's time covers everything decode() does (checksums, join, dating, dedup, jump check,
Fix records); pynmea2's covers only pynmea2.parse() on each line, no dating or checks.

    python benchmarks/nmea_decode.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2

from devices.codecs.nmea import NmeaPolicy, decode
from simulators.nmea_out import SimFix, write

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "data" / "nmea"
DATA = _SHARED if _SHARED.is_dir() else _REPO / "tests" / "data" / "nmea"  # the repo's copy
RECEIVED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def simulated_hour() -> bytes:
    start = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
    fixes = [
        SimFix(
            ts=start + timedelta(seconds=i),
            lat=31.2479 + i * 9e-6,
            lon=121.5874 + i * 9e-6,
            speed_mps=1.4,
        )
        for i in range(3600)
    ]
    return write(fixes)


def real_log() -> bytes:
    """Return beidou-bd.log as one message, without gpsd's '#' comment lines."""
    lines = [
        line.strip()
        for line in (DATA / "beidou-bd.log").read_bytes().splitlines()
        if line.strip() and not line.startswith(b"#")
    ]
    return b"\r\n".join(lines) + b"\r\n"


def best_of(repeat: int, *fns: Callable[[], object]) -> list[float]:
    """Return each function's best time over ``repeat`` rounds, run in turn.

    Interleaving keeps a burst of load from another process from landing on one side only.
    """
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def run(name: str, payloads: list[bytes], repeat: int) -> None:
    policy = NmeaPolicy()
    lines = [
        line.strip().decode("ascii") for p in payloads for line in p.splitlines() if line.strip()
    ]
    fixes = sum(
        len(decode(p, terminal_id="T1", received_at=RECEIVED, policy=policy).fixes)
        for p in payloads
    )

    def ours() -> None:
        for p in payloads:
            decode(p, terminal_id="T1", received_at=RECEIVED, policy=policy)

    def theirs() -> None:
        for line in lines:
            pynmea2.parse(line)

    t_ours, t_theirs = best_of(repeat, ours, theirs)
    print(f"{name}: {len(payloads)} message(s), {len(lines)} sentences, {fixes} fixes")
    print(
        f"  firegrid decode : {len(lines) / t_ours:>12,.0f} sentences/s"
        f"  {fixes / t_ours:>10,.0f} fixes/s"
    )
    print(
        f"  pynmea2 parse   : {len(lines) / t_theirs:>12,.0f} sentences/s"
        f"  {fixes / t_theirs:>10,.0f} fixes/s (same sentences)"
    )
    print(f"  ratio firegrid / pynmea2: {t_theirs / t_ours:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="best of N runs")
    args = parser.parse_args()
    run(
        "simulated 1 h flush, one message (GGA, GSA x2, RMC a second)",
        [simulated_hour()],
        args.repeat,
    )
    # The same 10 s of log as 720 messages: 1 h of real sentence mix, fixed per-message cost.
    run("real beidou-bd.log x 720 messages", [real_log()] * 720, args.repeat)


if __name__ == "__main__":
    main()
