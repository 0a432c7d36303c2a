"""NMEA from terminals over the real broker into the real database: real logs, every rejection
rule, the jump check across messages, and a 30-minute offline flush sent twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from devices.codecs.nmea_sentences import KNOT_MPS
from simulators.nmea_out import BadKind, SimFix, corrupt, epoch, gga, rmc, sentence, spoil
from simulators.terminal import TerminalSim, expected_fixes, offset_m, walk_route
from tests.fix_ingest import IngestHarness, wait_until
from tests.golden import shared_data

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
ROUTE = [(31.2479, 121.5874), (31.2497, 121.5874), (31.2497, 121.5905), (31.2479, 121.5905)]


def log(name: str) -> bytes:
    """A real log as a terminal would send it: gpsd's '#' comment lines blanked."""
    lines = (shared_data() / "nmea" / name).read_bytes().split(b"\n")
    return b"\n".join(b"" if line.startswith(b"#") else line for line in lines)


def fixes(h: IngestHarness, terminal: str) -> list[tuple[datetime, float, float, int, int, float]]:
    return h.rows(
        "SELECT ts, lat, lon, quality, satellites, hdop FROM fixes WHERE terminal_id = %s"
        " ORDER BY ts",
        terminal,
    )


def count(h: IngestHarness, terminal: str) -> int:
    return int(h.scalar("SELECT count(*) FROM fixes WHERE terminal_id = %s", terminal))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_real_beidou_logs_over_mqtt(ingest: IngestHarness) -> None:
    bd, gb = ingest.register_terminal("BD"), ingest.register_terminal("GB")
    proprietary = metric("firegrid_nmea_sentences_total", outcome="proprietary")
    ingest.publisher.publish_all(
        [
            (f"{ingest.prefix}/t/{bd}/nmea", log("beidou-bd.log")),
            (f"{ingest.prefix}/t/{gb}/nmea", log("beidou-gb.log")),
        ]
    )
    wait_until(lambda: count(ingest, bd) == 5 and count(ingest, gb) == 2, what="7 fixes")
    stored = fixes(ingest, bd)
    assert [r[0] for r in stored] == [
        datetime(2015, 2, 25, 7, 41, s, 799000, tzinfo=UTC) for s in range(55, 60)
    ]
    first = stored[0]
    # 31°14.8770'N 121°35.2463'E, as the log states
    assert (round(first[1], 6), round(first[2], 6)) == (31.247950, 121.587438)
    assert first[1] == pytest.approx(31 + 14.8770 / 60, abs=1e-9)
    assert first[2] == pytest.approx(121 + 35.2463 / 60, abs=1e-9)
    assert first[3:] == (1, 5, 1.3)
    # The third fix's speed comes only from the RMC on the line with a stray leading space.
    speed = ingest.scalar(
        "SELECT speed_mps FROM fixes WHERE terminal_id = %s AND ts = %s", bd, stored[2][0]
    )
    assert speed == pytest.approx(0.32 * KNOT_MPS)
    assert [(r[0], round(r[1], 6), round(r[2], 6)) for r in fixes(ingest, gb)] == [
        (datetime(2015, 3, 2, 5, 32, 32, 438000, tzinfo=UTC), 31.247982, 121.587403),
        (datetime(2015, 3, 2, 5, 32, 33, 438000, tzinfo=UTC), 31.248035, 121.58738),
    ]
    rejected = {
        (topic.rsplit("/", 2)[1], reason): detail for topic, reason, detail, _ in ingest.rejected()
    }
    assert set(rejected) == {(bd, "no_fix"), (bd, "rmc_void"), (gb, "no_fix"), (gb, "rmc_void")}
    assert rejected[(bd, "no_fix")] == "; ".join(
        f"line {n}: fix quality 0" for n in (17, 32, 38, 45, 51)
    )
    assert "line 81" not in rejected[(bd, "rmc_void")]
    # $PSRF sentences are skipped, neither stored nor rejected: 12 + 5 of them in the two logs.
    assert metric("firegrid_nmea_sentences_total", outcome="proprietary") - proprietary == 17
    assert not any("PSRF" in d for d in rejected.values())
    # The terminals were heard from: their fixes keep their last-heard time, as readings do a
    # sensor's (the device list shows them online, not "never heard").
    heard = ingest.rows(
        "SELECT device_id, last_ts FROM device_status WHERE device_id = ANY(%s) ORDER BY 1",
        [bd, gb],
    )
    assert heard == sorted([(bd, stored[-1][0]), (gb, fixes(ingest, gb)[-1][0])])


def test_every_rejection_rule_end_to_end(ingest: IngestHarness) -> None:
    terminal = ingest.register_terminal("RULES")
    walk = walk_route(ROUTE[:2], start=T0)[:12]
    far = offset_m(walk[10].lat, walk[10].lon, 900.0, 0.0)
    jump = SimFix(ts=walk[10].ts, lat=far[0], lon=far[1])
    dead_reckoning = gga(walk[9]).replace(",1,", ",6,", 1)
    body = dead_reckoning[1 : dead_reckoning.index("*")]
    lines = [
        epoch(walk[0]),
        corrupt(gga(walk[1])) + rmc(walk[1]),  # bad_checksum
        gga(walk[2]).split("*")[0] + "\r\n" + rmc(walk[2]),  # missing_checksum
        "GNGGA,garbage\r\n",  # not starting with '$': malformed
        sentence("GNGGA,063003.000,31A4.87701,N,12135.24630,E,1,12,0.90,12.0,M,8.3,M,,"),
        epoch(spoil(walk[4], BadKind.NO_FIX)),
        epoch(spoil(walk[5], BadKind.RMC_VOID)),
        epoch(spoil(walk[6], BadKind.HIGH_HDOP)),
        epoch(spoil(walk[7], BadKind.FEW_SATELLITES)),
        epoch(walk[8]),
        sentence(body) + rmc(walk[9]),  # quality 6: not_a_fix
        epoch(jump),  # 900 m in 2 s: speed_jump
        epoch(walk[11]),
    ]
    before = metric("firegrid_rejected_total", reason="speed_jump")
    ingest.publisher.publish_all([(f"{ingest.prefix}/t/{terminal}/nmea", "".join(lines).encode())])
    wait_until(lambda: count(ingest, terminal) == 3, what="3 good fixes")
    assert [r[0] for r in fixes(ingest, terminal)] == [walk[0].ts, walk[8].ts, walk[11].ts]
    reasons = {reason for _, reason, _, _ in ingest.rejected()}
    assert reasons == {
        "bad_checksum",
        "missing_checksum",
        "malformed",
        "no_fix",
        "rmc_void",
        "high_hdop",
        "few_satellites",
        "not_a_fix",
        "speed_jump",
    }
    assert metric("firegrid_rejected_total", reason="speed_jump") - before == 1


def test_jump_check_spans_messages_and_starts_from_the_stored_fix(ingest: IngestHarness) -> None:
    terminal = ingest.register_terminal("JUMP")
    walk = walk_route(ROUTE[:2], start=T0)[:4]
    # A fix already in the database (written by an earlier ingest run): the cache loads it.
    ingest.rows(
        "INSERT INTO fixes (ts, terminal_id, lat, lon, quality, satellites, hdop, received_at,"
        " batch_id) VALUES (%s, %s, %s, %s, 1, 9, 0.9, now(), 0) RETURNING 1",
        walk[0].ts,
        terminal,
        walk[0].lat,
        walk[0].lon,
    )
    far = offset_m(walk[1].lat, walk[1].lon, 0.0, 2000.0)
    topic = f"{ingest.prefix}/t/{terminal}/nmea"
    ingest.publisher.publish_all(
        [(topic, epoch(SimFix(ts=walk[1].ts, lat=far[0], lon=far[1])).encode())]
    )
    wait_until(lambda: len(ingest.rejected()) == 1, what="the jump rejected")
    assert ingest.rejected()[0][1] == "speed_jump"
    ingest.publisher.publish_all([(topic, epoch(walk[2]).encode())])
    ingest.publisher.publish_all([(topic, epoch(walk[3]).encode())])
    wait_until(lambda: count(ingest, terminal) == 3, what="the walk continued")


def test_thirty_minute_offline_flush_in_one_message_then_resent(ingest: IngestHarness) -> None:
    terminal = ingest.register_terminal("BASEMENT")
    sim = TerminalSim(terminal, prefix=ingest.prefix, seed=7)
    walk = walk_route(ROUTE * 3, start=T0)[:2400]
    messages = sim.nmea(walk, per_message_s=60, bad_rate=0.02, offline=(300, 1800))
    flush = max(messages, key=lambda m: len(m.payload))
    # 30 minutes in one message: 1,800 seconds less the spoilt ones (2 % drawn per terminal ID,
    # which carries a random tag: 1,700-1,726 over 40 draws, once 1,698)
    assert len(flush.expected_fixes) > 1600
    ingest.publisher.publish_all(messages)
    want = expected_fixes(messages)
    wait_until(lambda: count(ingest, terminal) == len(want), what=f"{len(want)} fixes")
    stored = fixes(ingest, terminal)
    assert [r[0] for r in stored] == [f.ts for f in want]
    for row, fix in zip(stored, want, strict=True):
        assert (row[1], row[2]) == (
            pytest.approx(fix.lat, abs=1e-7),
            pytest.approx(fix.lon, abs=1e-7),
        )
    expected_reasons = sorted({r for m in messages for r in m.expected_rejections})
    assert sorted({r for _, r, _, _ in ingest.rejected()}) == expected_reasons
    batches = ingest.scalar(
        "SELECT count(DISTINCT batch_id) FROM fixes WHERE terminal_id = %s", terminal
    )
    duplicates = metric("firegrid_duplicates_total")
    ingest.publisher.publish_all([flush])  # the terminal did not see the acknowledgement
    wait_until(
        lambda: metric("firegrid_duplicates_total") - duplicates >= len(flush.expected_fixes),
        what="the resent flush skipped as duplicates",
    )
    assert count(ingest, terminal) == len(want)
    assert (
        ingest.scalar("SELECT count(DISTINCT batch_id) FROM fixes WHERE terminal_id = %s", terminal)
        == batches
    )
    assert (
        ingest.scalar("SELECT count(*) FROM ingest_conflicts WHERE device_id = %s", terminal) == 0
    )


def test_unknown_terminal_is_rejected(ingest: IngestHarness) -> None:
    ghost = ingest.device("GHOST")
    walk = walk_route(ROUTE[:2], start=T0)[:2]
    ingest.publisher.publish_all([(f"{ingest.prefix}/t/{ghost}/nmea", epoch(walk[0]).encode())])
    wait_until(lambda: len(ingest.rejected()) == 1, what="one rejection")
    assert ingest.rejected()[0][1] == "unknown_terminal"
