"""Device events, correlation (confirmed fire, smoke + pressure drop) and false alarms."""

from __future__ import annotations

import pytest

from rules.exceptions import RulesError
from rules.kinds.correlation import CorrelationParams, CorrelationState
from rules.kinds.correlation import evaluate as correlate
from rules.kinds.device_event import DeviceEventParams, DeviceEventState
from rules.kinds.device_event import evaluate as on_events
from rules.kinds.false_alarms import FalseAlarmParams, FalseAlarmState
from rules.kinds.false_alarms import evaluate as count_false
from rules.models import EventSeries, Resolved, Severity, Transition

T0 = 1_795_674_600_000  # 2026-11-26T06:30:00Z = 14:30 CST
S = 1000
SMOKE = Resolved(
    "smoke_alarm",
    "device_event",
    Severity.MAJOR,
    DeviceEventParams(("smoke_alarm",), ("alarm_cleared",), ("silenced",)),
)
FIRE = Resolved(
    "confirmed_fire",
    "correlation",
    Severity.CRITICAL,
    CorrelationParams(("smoke_alarm",), ("smoke_alarm",), 120, ("alarm_cleared",)),
)
DROP = Resolved(
    "smoke_drop",
    "correlation",
    Severity.CRITICAL,
    CorrelationParams(
        ("smoke_alarm",), ("pressure_drop",), 600, ("alarm_cleared", "pressure_restored")
    ),
)
FALSE = Resolved("false_alarms", "false_alarms", Severity.WARNING, FalseAlarmParams())


def ev(key: str, rows: list[tuple[int, str, str]]) -> EventSeries:
    return EventSeries.build(key, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])


def kinds(trs: list[Transition]) -> list[tuple[int, str]]:
    return [((t.ts - T0) // S, t.kind) for t in trs]


def test_smoke_alarm_silenced_cleared() -> None:
    rows = [
        (T0, "heartbeat", "S1"),
        (T0 + S, "smoke_alarm", "S1"),
        (T0 + 2 * S, "smoke_alarm", "S1"),
        (T0 + 3 * S, "silenced", "S1"),
        (T0 + 4 * S, "alarm_cleared", "S1"),
        (T0 + 5 * S, "alarm_cleared", "S1"),
        (T0 + 6 * S, "silenced", "S1"),
    ]
    state, trs = on_events(ev("S1", rows), DeviceEventState(), SMOKE)
    assert kinds(trs) == [(1, "open"), (2, "update"), (3, "update"), (4, "clear")]
    assert [t.detail["event"] for t in trs] == [
        "smoke_alarm",
        "smoke_alarm",
        "silenced",
        "alarm_cleared",
    ]
    assert {t.severity for t in trs} == {Severity.MAJOR}
    assert state == DeviceEventState(last_ts=T0 + 6 * S, open=False)


def test_event_params_refuse_unknown_types() -> None:
    p = DeviceEventParams(("smoke_alarm", "explosion"), ("smoke_alarm",))
    assert p.problems() == [
        ("open", "unknown event type 'explosion'"),
        ("clear", "event type 'smoke_alarm' has two roles"),
    ]


def test_two_detectors_within_120_s_confirm_a_fire() -> None:
    rows = [
        (T0, "smoke_alarm", "S1"),
        (T0 + 119 * S, "smoke_alarm", "S2"),
        (T0 + 130 * S, "smoke_alarm", "S3"),
    ]
    state, trs = correlate(ev("unit:U-1", rows), CorrelationState(), FIRE)
    assert kinds(trs) == [(119, "open"), (130, "update")]
    assert trs[0].severity is Severity.CRITICAL
    assert trs[0].detail == {
        "devices": ["S1", "S2"],
        "events": ["smoke_alarm", "smoke_alarm"],
        "gap_ms": 119_000,
    }
    rows = [
        (T0 + 200 * S, "alarm_cleared", "S1"),
        (T0 + 210 * S, "alarm_cleared", "S2"),
        (T0 + 220 * S, "alarm_cleared", "S3"),
    ]
    state, trs = correlate(ev("unit:U-1", rows), state, FIRE)
    assert kinds(trs) == [(220, "clear")]
    assert not state.open


def test_alarms_further_apart_than_the_window_or_from_one_detector_do_not_confirm() -> None:
    rows = [
        (T0, "smoke_alarm", "S1"),
        (T0 + 121 * S, "smoke_alarm", "S2"),
        (T0 + 122 * S, "smoke_alarm", "S2"),
        (T0 + 300 * S, "smoke_alarm", "S2"),
    ]
    _, trs = correlate(ev("unit:U-1", rows), CorrelationState(), FIRE)
    assert trs == []


def test_the_window_carries_across_batches() -> None:
    state, trs = correlate(ev("unit:U-1", [(T0, "smoke_alarm", "S1")]), CorrelationState(), FIRE)
    assert trs == []
    _, trs = correlate(ev("unit:U-1", [(T0 + 60 * S, "smoke_alarm", "S2")]), state, FIRE)
    assert kinds(trs) == [(60, "open")]


def test_smoke_alarm_with_a_pressure_drop_in_either_order() -> None:
    for first, second in (("smoke_alarm", "pressure_drop"), ("pressure_drop", "smoke_alarm")):
        rows = [(T0, first, "A"), (T0 + 500 * S, second, "B")]
        _, trs = correlate(ev("unit:U-1", rows), CorrelationState(), DROP)
        assert kinds(trs) == [(500, "open")]
    rows = [(T0, "smoke_alarm", "S1"), (T0 + 601 * S, "pressure_drop", "H1")]
    _, trs = correlate(ev("unit:U-1", rows), CorrelationState(), DROP)
    assert trs == []


def _false(n: int, start: int, dev: str = "S1") -> list[tuple[int, str, str]]:
    """``n`` alarms each cleared after 30 s, 10 minutes apart from ``start``."""
    rows = []
    for i in range(n):
        t = start + i * 600 * S
        rows += [(t, "smoke_alarm", dev), (t + 30 * S, "alarm_cleared", dev)]
    return rows


def test_the_sixth_false_alarm_of_a_day_opens_a_unit_hazard() -> None:
    state, trs = count_false(ev("unit:U-1", _false(7, T0)), FalseAlarmState(), FALSE)
    assert [(t.kind, t.value) for t in trs] == [("open", 6), ("update", 7)]
    assert trs[0].detail == {"day": "2026-11-26", "count": 6, "device": "S1"}
    assert state.open_day is not None


def test_an_alarm_not_cleared_in_time_or_confirmed_is_not_false() -> None:
    late = [(T0 + i * 3600 * S, k, "S1") for i in range(6) for k in ("smoke_alarm",)] + [
        (T0 + 6 * 3600 * S, "alarm_cleared", "S1")
    ]
    _, trs = count_false(ev("unit:U-1", late), FalseAlarmState(), FALSE)
    assert trs == []
    confirm = Resolved("f", "false_alarms", Severity.WARNING, FalseAlarmParams(confirm=("tamper",)))
    rows = []
    for i in range(6):
        t = T0 + i * 600 * S
        rows += [
            (t, "smoke_alarm", "S1"),
            (t + 5 * S, "tamper", "S9"),
            (t + 30 * S, "alarm_cleared", "S1"),
        ]
    _, trs = count_false(ev("unit:U-1", rows), FalseAlarmState(), confirm)
    assert trs == []


def test_false_alarms_count_per_china_day() -> None:
    # 2026-11-26T15:00Z = 23:00 CST. Three false alarms before midnight CST, three after:
    # counted by UTC date they would all be on the 26th and open a hazard; by CST, none.
    before = 1_795_705_200_000
    rows = _false(3, before) + _false(3, before + 3600 * S + 60 * S)
    _, trs = count_false(ev("unit:U-1", rows), FalseAlarmState(), FALSE)
    assert trs == []
    # An alarm at 23:59:50 CST cleared at 00:00:20 counts for the day it rang.
    eve = before + 3600 * S - 10 * S
    rows = [
        *_false(5, before - 3600 * S),
        (eve, "smoke_alarm", "S2"),
        (eve + 30 * S, "alarm_cleared", "S2"),
    ]
    state, trs = count_false(ev("unit:U-1", rows), FalseAlarmState(), FALSE)
    assert [(t.kind, t.detail["day"]) for t in trs] == [("open", "2026-11-26")]
    # The day's episode clears once no late clear can still count for it (midnight + 10 min).
    state, trs = count_false(
        ev(
            "unit:U-1",
            [
                (before + 3600 * S + 700 * S, "heartbeat", "S1"),
                (before + 3600 * S + 700 * S, "smoke_alarm", "S1"),
            ],
        ),
        state,
        FALSE,
    )
    assert [(t.kind, t.ts) for t in trs] == [("clear", before + 3600 * S + 600 * S)]
    assert state.open_day is None


def test_events_before_the_state_are_refused() -> None:
    state, _ = on_events(ev("S1", [(T0, "smoke_alarm", "S1")]), DeviceEventState(), SMOKE)
    with pytest.raises(RulesError):
        on_events(ev("S1", [(T0 - 1, "alarm_cleared", "S1")]), state, SMOKE)
