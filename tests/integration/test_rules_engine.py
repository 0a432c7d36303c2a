"""The rules engine over the real broker and database: hysteresis, duplicates, late data,
crashes between commit and evaluation, replay, and the database's one-live-episode guarantee."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from grids.locator import GridLocator
from hazards.lifecycle import HazardOp, HazardSink
from hazards.sink import DbSink
from rules.config import RulesSettings
from rules.flows import RulesService, engine_config, replay
from rules.models import Severity
from rules.rules_file import load_rules
from simulators.sensors import event, sample
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
RULE = "hydrant_municipal_low"


@pytest.fixture
def rules(db_url: str) -> Iterator[RulesService]:
    """A rules service run in-process, on demand."""
    svc = RulesService(db_url=db_url, settings=RulesSettings())
    try:
        yield svc
    finally:
        svc.close()


def _publish(
    h: IngestHarness, dev: str, points: Sequence[tuple[float, float]], seq0: int = 0
) -> None:
    """Publish ``(seconds after T0, pressure)`` samples, one message each; wait for storage."""
    before = h.scalar("SELECT count(*) FROM readings WHERE device_id = %s", dev)
    msgs = [
        sample(dev, T0 + timedelta(seconds=s), seq0 + i, {"pressure_mpa": v}, prefix=h.prefix)
        for i, (s, v) in enumerate(points)
    ]
    h.publisher.publish_all(msgs)
    wait_until(
        lambda: (
            h.scalar("SELECT count(*) FROM readings WHERE device_id = %s", dev)
            >= before + len(points)
        ),
        what=f"{len(points)} readings of {dev}",
    )


def _settled(h: IngestHarness, dev: str) -> None:
    """Wait until every stored reading of ``dev`` belongs to a committed batch row."""
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM readings r WHERE device_id = %s AND NOT EXISTS "
                "(SELECT 1 FROM ingest_batches b WHERE b.batch_id = r.batch_id)",
                dev,
            )
            == 0
        ),
        what="batches committed",
    )


def _episodes(h: IngestHarness, dev: str, rule: str = RULE) -> list[tuple[Any, ...]]:
    return h.rows(
        "SELECT episode, status, opened_at, cleared_at, occurrences FROM hazards "
        "WHERE device_id = %s AND rule_id = %s ORDER BY episode",
        dev,
        rule,
    )


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_hysteresis_back_and_forth_gives_exactly_the_episodes(
    ingest: IngestHarness, rules: RulesService
) -> None:
    dev = ingest.device("H1")
    ingest.register(dev, hydrant_class="municipal", lat=31.2, lon=121.5)
    # limit 0.14, clears at >= 0.16, 120 s minimum: dips, dead-band wandering, short dips.
    values = [0.30, 0.12, 0.12, 0.12, 0.15, 0.13, 0.15, 0.17, 0.12, 0.18, 0.12, 0.13, 0.12, 0.2]
    _publish(ingest, dev, [(60 * i, v) for i, v in enumerate(values)])
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == [
        (1, "cleared", _at(180), _at(420), 1),
        (2, "cleared", _at(720), _at(780), 1),
    ]
    events = ingest.scalar(
        "SELECT count(*) FROM hazard_events e JOIN hazards h ON h.id = e.hazard_id "
        "WHERE h.device_id = %s AND h.rule_id = %s",
        dev,
        RULE,
    )
    assert events == 4  # opened + cleared, twice: no flood


def test_same_sample_twice_raises_one_hazard(ingest: IngestHarness, rules: RulesService) -> None:
    dev = ingest.device("H2")
    ingest.register(dev, hydrant_class="municipal")
    points = [(0, 0.08), (150, 0.08)]
    _publish(ingest, dev, points)
    _settled(ingest, dev)
    rules.process_pending()
    # The same samples again: stored once by ingest, and nothing new for the rules.
    msgs = [
        sample(dev, _at(s), i, {"pressure_mpa": v}, prefix=ingest.prefix)
        for i, (s, v) in enumerate(points)
    ]
    ingest.publisher.publish_all(msgs + msgs)
    ingest.service.stop()  # commits what it received before returning
    rules.process_pending()
    assert _episodes(ingest, dev) == [(1, "open", _at(150), None, 1)]


def test_late_sample_inside_window_is_evaluated_in_order(
    ingest: IngestHarness, rules: RulesService
) -> None:
    dev = ingest.device("H3")
    ingest.register(dev, hydrant_class="municipal")
    _publish(ingest, dev, [(0, 0.08), (200, 0.30)])
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == []  # 0 s low, then healthy at 200 s: never 120 s low
    _publish(ingest, dev, [(150, 0.08)], seq0=10)  # late: low at 150 s, so low for 150 s
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == [(1, "cleared", _at(150), _at(200), 1)]
    rules.process_pending()  # nothing pending, nothing changes
    assert len(_episodes(ingest, dev)) == 1


def test_sample_too_late_never_reopens(ingest: IngestHarness, rules: RulesService) -> None:
    dev = ingest.device("H4")
    ingest.register(dev, hydrant_class="municipal")
    hour = 3600
    _publish(ingest, dev, [(2 * hour, 0.08), (2 * hour + 150, 0.08), (3 * hour, 0.30)])
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == [(1, "cleared", _at(2 * hour + 150), _at(3 * hour), 1)]
    # 1 h 40 min behind the last evaluated sample: outside the 1 h window.
    _publish(ingest, dev, [(hour + 1200, 0.05), (hour + 1500, 0.05)], seq0=10)
    _settled(ingest, dev)
    rules.process_pending()
    assert _episodes(ingest, dev) == [(1, "cleared", _at(2 * hour + 150), _at(3 * hour), 1)]
    late = ingest.scalar(
        "SELECT count(*) FROM rule_too_late WHERE device_id = %s AND rule_id = %s", dev, RULE
    )
    assert late == 2


def test_batches_committed_while_rules_down_are_processed_exactly_once(
    ingest: IngestHarness, db_url: str
) -> None:
    dev = ingest.device("S1")
    ingest.register(dev, kind="smoke")
    ingest.publisher.publish_all([event(dev, _at(0), 1, "smoke_alarm", {}, prefix=ingest.prefix)])
    wait_until(
        lambda: ingest.scalar("SELECT count(*) FROM device_events WHERE device_id = %s", dev) == 1,
        what="event stored",
    )
    _settled_events(ingest, dev)
    # The rules role was not running when ingest committed: a new one picks the batch up.
    for _ in range(2):
        svc = RulesService(db_url=db_url)
        svc.process_pending()
        svc.close()
    assert _episodes(ingest, dev, "smoke_alarm") == [(1, "open", _at(0), None, 1)]


def _stored_events(h: IngestHarness, dev: str, n: int) -> None:
    query = "SELECT count(*) FROM device_events WHERE device_id = %s"
    wait_until(lambda: h.scalar(query, dev) == n, what=f"{n} events of {dev}")


def _settled_events(h: IngestHarness, dev: str) -> None:
    wait_until(
        lambda: (
            h.scalar(
                "SELECT count(*) FROM device_events e WHERE device_id = %s AND NOT EXISTS "
                "(SELECT 1 FROM ingest_batches b WHERE b.batch_id = e.batch_id)",
                dev,
            )
            == 0
        ),
        what="batches committed",
    )


class _CrashError(RuntimeError):
    pass


class _CrashingSink:
    """Applies the first operation for real, then dies before the batch commits."""

    def __init__(self, conn: psycopg.Connection[Any], locator: GridLocator) -> None:
        self.inner = DbSink(conn, locator=locator)

    def apply(self, ops: Sequence[HazardOp]) -> None:
        if ops:
            self.inner.apply(ops[:1])
            raise _CrashError("killed mid-batch")


def test_rules_run_interrupted_mid_batch_is_redone_without_doubles(
    ingest: IngestHarness, db_url: str
) -> None:
    a, b = ingest.device("SA"), ingest.device("SB")
    ingest.register(a, b, kind="smoke", unit_id=f"U-{ingest.tag}")
    ingest.publisher.publish_all(
        [
            event(a, _at(0), 1, "smoke_alarm", {}, prefix=ingest.prefix),
            event(b, _at(30), 1, "smoke_alarm", {}, prefix=ingest.prefix),
        ]
    )
    for d in (a, b):
        _stored_events(ingest, d, 1)
        _settled_events(ingest, d)

    def crashing(conn: psycopg.Connection[Any], locator: GridLocator) -> HazardSink:
        return _CrashingSink(conn, locator)

    broken = RulesService(db_url=db_url, sink_factory=crashing)
    with pytest.raises(_CrashError):
        broken.process_pending()
    broken.close()
    unit_key = f"unit:U-{ingest.tag}"
    live = "SELECT count(*) FROM hazards WHERE device_id = ANY(%s) OR key = %s"
    assert ingest.scalar(live, [a, b], unit_key) == 0  # rolled back with the batch
    svc = RulesService(db_url=db_url)
    svc.process_pending()
    svc.process_pending()
    svc.close()
    assert _episodes(ingest, a, "smoke_alarm") == [(1, "open", _at(0), None, 1)]
    assert _episodes(ingest, b, "smoke_alarm") == [(1, "open", _at(30), None, 1)]
    fire = ingest.rows(
        "SELECT severity, status, opened_at FROM hazards WHERE key = %s AND rule_id = %s",
        unit_key,
        "smoke_confirmed_fire",
    )
    assert fire == [("critical", "open", _at(30))]


def test_replay_of_a_day_equals_what_live_raised(
    ingest: IngestHarness, rules: RulesService, db_url: str
) -> None:
    devs = [ingest.device(f"R{i}") for i in range(3)]
    ingest.register(*devs, hydrant_class="municipal")
    for n, dev in enumerate(devs):
        values = [0.3, 0.12, 0.12, 0.12, 0.3, 0.05, 0.05, 0.05, 0.09, 0.3][n:]
        _publish(ingest, dev, [(60 * i, v) for i, v in enumerate(values)])
    _publish(ingest, devs[0], [(90, 0.12)], seq0=100)  # a late one too
    for dev in devs:
        _settled(ingest, dev)
    rules.process_pending()
    live = sorted(
        (r[0], r[1], r[2], r[3], r[4])
        for r in ingest.rows(
            "SELECT key, rule_id, opened_at, cleared_at, occurrences FROM hazards "
            "WHERE device_id = ANY(%s) AND NOT detail ? 'retracted'",
            devs,
        )
    )
    assert live  # the day did raise hazards
    day = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 25 Nov China time
    got = replay(
        db_url=db_url,
        start=day,
        end=day + timedelta(days=1),
        rules=load_rules(),
        config=engine_config(RulesSettings()),
    )
    replayed = sorted(
        (
            h.key,
            h.rule_id,
            _at(0) + timedelta(milliseconds=h.opened_at - _ms(_at(0))),
            None
            if h.cleared_at is None
            else _at(0) + timedelta(milliseconds=h.cleared_at - _ms(_at(0))),
            h.occurrences,
        )
        for h in got
        if h.subject_id in devs and not h.detail.get("retracted")
    )
    assert replayed == live


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def test_database_refuses_a_second_live_episode(db_url: str) -> None:
    insert = (
        "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id, key,"
        " opened_at, episode) VALUES ('r', 'threshold', 'warning', 'open', 'device', 'X-1',"
        " 'X-1/m', now(), %s)"
    )
    with psycopg.connect(db_url) as conn:
        conn.execute(insert, (1,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (2,))
        conn.rollback()
        conn.execute(insert, (1,))
        conn.execute(
            "UPDATE hazards SET status = 'cleared', cleared_at = now() WHERE subject_id = 'X-1'"
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (1,))  # the same episode number again
        conn.rollback()


def test_state_changed_behind_the_cache_is_read_again(
    ingest: IngestHarness, rules: RulesService
) -> None:
    dev = ingest.device("H5")
    ingest.register(dev, hydrant_class="municipal")
    _publish(ingest, dev, [(0, 0.08), (60, 0.08)])  # low for 60 s: pending, not yet open
    _settled(ingest, dev)
    rules.process_pending()
    with psycopg.connect(ingest.db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rule_state WHERE key LIKE %s", (dev + "/%",))
    _publish(ingest, dev, [(150, 0.08)], seq0=10)
    _settled(ingest, dev)
    rules.process_pending()
    # From the database's (empty) state the low run starts at 150 s: nothing opens. A stale
    # cache would still count from 0 s and open at 150 s.
    assert _episodes(ingest, dev) == []


def _sink_ops(subject: str) -> list[HazardOp]:
    def op(action: str, ts: int, kind: str, flap: bool | None = None) -> HazardOp:
        return HazardOp(
            action,  # type: ignore[arg-type]
            "r",
            "threshold",
            f"{subject}/m",
            ts,
            kind,  # type: ignore[arg-type]
            Severity.WARNING,
            0.1,
            {"n": ts},
            flap,
        )

    return [
        op("apply", 1000, "open"),
        op("apply", 2000, "update"),
        op("apply", 3000, "clear"),
        op("apply", 4000, "open", True),
        op("apply", 5000, "clear"),
        op("apply", 6000, "clear", False),
        op("retract", 6000, "clear"),
        op("apply", 7000, "open"),
        op("retract", 4000, "open"),
        op("apply", 8000, "open"),
    ]


def test_bulk_sink_writes_what_op_by_op_writes(db_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    bulk, single = f"SINK-B-{tag}", f"SINK-S-{tag}"
    rows = (
        "SELECT episode, severity, status, opened_at, cleared_at, occurrences, last_value,"
        " detail, flapping FROM hazards WHERE subject_id = %s ORDER BY episode"
    )
    events = (
        "SELECT h.episode, e.type, e.data FROM hazard_events e JOIN hazards h ON h.id ="
        " e.hazard_id WHERE h.subject_id = %s ORDER BY e.id"
    )
    with psycopg.connect(db_url) as conn:
        sink = DbSink(conn)
        sink.apply(_sink_ops(bulk)[:5])
        sink.apply(_sink_ops(bulk)[5:])
        for op in _sink_ops(single):
            sink.apply([op])
        assert conn.execute(rows, (bulk,)).fetchall() == conn.execute(rows, (single,)).fetchall()
        got = conn.execute(events, (bulk,)).fetchall()
        assert got == conn.execute(events, (single,)).fetchall()
        assert len(got) >= 8
        conn.rollback()
