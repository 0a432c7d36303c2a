"""Silence kind: k missed heartbeats, clearing when heard, one hazard for a silent unit."""

from __future__ import annotations

from rules.kinds.silence import SilenceParams, SilenceSnapshot, SilenceState, evaluate
from rules.models import Resolved, Severity
from rules.rules_file import load_rules

HOUR = 3_600_000
NOW = 1_795_674_600_000
RULE = Resolved("smoke_silence", "silence", Severity.WARNING, SilenceParams(missed=3))


def snap(
    now: int, last: dict[str, int], group: dict[str, str] | None = None, beat_s: float = 3600
) -> SilenceSnapshot:
    ids = sorted(last)
    groups = group or {}
    return SilenceSnapshot.build(
        now=now,
        device=ids,
        group=[groups.get(d, "") for d in ids],
        last_device_ts=[last[d] for d in ids],
        last_received=[last[d] for d in ids],
        heartbeat_s=[beat_s] * len(ids),
        since=[0] * len(ids),
    )


def test_opens_after_k_missed_heartbeats_and_clears_when_heard() -> None:
    state, trs = evaluate(
        snap(NOW, {"S1": NOW - 3 * HOUR, "S2": NOW - 2 * HOUR}), SilenceState(), RULE
    )
    assert trs == []  # exactly 3 heartbeats is not MORE than 3
    state, trs = evaluate(snap(NOW + 1, {"S1": NOW - 3 * HOUR, "S2": NOW - 2 * HOUR}), state, RULE)
    assert [(t.key, t.kind) for t in trs] == [("S1", "open")]
    assert trs[0].detail == {"last_seen": NOW - 3 * HOUR}
    state, trs = evaluate(snap(NOW + HOUR, {"S1": NOW + HOUR, "S2": NOW - 2 * HOUR}), state, RULE)
    assert [(t.key, t.kind, t.detail["reason"]) for t in trs] == [("S1", "clear", "heard")]
    assert state.open_devices == frozenset()


def test_receive_time_counts_when_the_device_clock_is_behind() -> None:
    s = SilenceSnapshot.build(
        now=NOW,
        device=["S1"],
        group=[""],
        last_device_ts=[0],
        last_received=[NOW - HOUR],
        heartbeat_s=[3600],
        since=[0],
    )
    _, trs = evaluate(s, SilenceState(), RULE)
    assert trs == []


def test_default_heartbeat_serves_devices_without_one() -> None:
    s = SilenceSnapshot.build(
        now=NOW,
        device=["S1"],
        group=[""],
        last_device_ts=[-1],
        last_received=[NOW - 4 * 86_400_000],
        heartbeat_s=[0],
        since=[0],
    )
    _, trs = evaluate(s, SilenceState(), RULE)
    assert [(t.key, t.kind) for t in trs] == [("S1", "open")]


def test_a_silent_unit_is_one_hazard_not_hundreds() -> None:
    quiet = {f"S{i:03d}": NOW - 10 * HOUR for i in range(300)}
    heard = {"T1": NOW}
    group = dict.fromkeys([*quiet, *heard], "U-1")
    state, trs = evaluate(snap(NOW, quiet | heard, group), SilenceState(), RULE)
    assert [(t.key, t.kind) for t in trs] == [("unit:U-1", "open")]
    assert trs[0].detail == {"silent": 300, "devices": 301}
    # The unit comes back but two detectors stay silent: the unit clears, they open.
    back = dict.fromkeys(quiet, NOW + HOUR) | {"S007": NOW - 10 * HOUR, "S008": NOW - 10 * HOUR}
    state, trs = evaluate(snap(NOW + HOUR, back | heard, group), state, RULE)
    assert [(t.key, t.kind) for t in trs] == [
        ("unit:U-1", "clear"),
        ("S007", "open"),
        ("S008", "open"),
    ]
    assert state.open_groups == frozenset()
    assert state.open_devices == {"S007", "S008"}


def test_device_hazards_open_before_the_unit_went_quiet_stay_open() -> None:
    group = dict.fromkeys(("A", "B", "C"), "U-1")
    state, trs = evaluate(
        snap(NOW, {"A": NOW - 5 * HOUR, "B": NOW, "C": NOW}, group), SilenceState(), RULE
    )
    assert [(t.key, t.kind) for t in trs] == [("A", "open")]
    quiet = {"A": NOW - 5 * HOUR, "B": NOW - 5 * HOUR, "C": NOW - 5 * HOUR}
    state, trs = evaluate(snap(NOW + 1, quiet, group), state, RULE)
    assert [(t.key, t.kind) for t in trs] == [("unit:U-1", "open")]
    assert state.open_devices == {"A"}


def test_small_groups_below_the_minimum_stay_per_device() -> None:
    group = {"A": "U-2", "B": "U-2"}
    _, trs = evaluate(snap(NOW, {"A": 0, "B": 0}, group), SilenceState(), RULE)
    assert [(t.key, t.kind) for t in trs] == [("A", "open"), ("B", "open")]


def test_a_transmission_device_is_silent_past_the_2_h_polling_interval() -> None:
    # The shipped rule: missed 1 beat of the standard's polling interval (GB 50440: <= 2 h).
    shipped = load_rules().get("transmission_silence")
    assert shipped.kind == "silence"
    assert isinstance(shipped.params, SilenceParams)
    assert shipped.params.default_heartbeat_s == 7200
    rule = Resolved(shipped.id, shipped.kind, shipped.severity, shipped.params)
    last = {"UITD-1": NOW - 2 * HOUR}
    unregistered = snap(NOW, last, beat_s=0)  # no interval registered: the 2 h default
    _, trs = evaluate(unregistered, SilenceState(), rule)
    assert trs == []  # exactly 2 h is not past it
    _, trs = evaluate(snap(NOW + 1, last, beat_s=0), SilenceState(), rule)
    assert [(t.key, t.kind) for t in trs] == [("UITD-1", "open")]
    # A device registered with a shorter interval is silent sooner.
    polled = {"UITD-2": NOW - 11 * 60_000}
    _, trs = evaluate(snap(NOW, polled, beat_s=600), SilenceState(), rule)
    assert [(t.key, t.kind) for t in trs] == [("UITD-2", "open")]
    _, trs = evaluate(snap(NOW, {"UITD-2": NOW - 9 * 60_000}, beat_s=600), SilenceState(), rule)
    assert trs == []
