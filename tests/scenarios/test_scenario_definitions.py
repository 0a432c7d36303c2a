"""Scenario definitions, pure: deterministic, tagged, valid rows, rule IDs that exist."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from devices import registry
from rules.models import Severity
from rules.rules_file import load_rules
from simulators.scenarios import (
    SCENARIOS,
    ExpectedHazard,
    ObservedHazard,
    Publish,
    Tick,
    Transmit,
    UnknownScenarioError,
    build,
    compare,
)
from simulators.scenarios.models import ObservedCase, case_mismatches
from simulators.scenarios.runner import identities

BASE = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
NAMES = sorted(SCENARIOS)


def test_one_scenario_per_rule_kind_at_least() -> None:
    kinds = {rule.kind for rule in load_rules().rules}
    assert kinds <= {spec.kind for spec in SCENARIOS.values()}


@pytest.mark.parametrize("name", NAMES)
def test_builds_the_same_for_the_same_tag_and_base(name: str) -> None:
    a, b = build(name, tag="0a1b2c3d", base=BASE), build(name, tag="0a1b2c3d", base=BASE)
    assert [m.payload for m in a.messages] == [m.payload for m in b.messages]
    assert a.expected_hazards == b.expected_hazards
    assert a.devices == b.devices
    assert a.grids == b.grids


@pytest.mark.parametrize("name", NAMES)
def test_every_id_and_grid_carries_the_tag(name: str) -> None:
    one, two = build(name, tag="11111111", base=BASE), build(name, tag="22222222", base=BASE)
    ids = one.device_ids | one.unit_ids | {s["staff_id"] for s in one.staff}
    assert all(i.endswith("-11111111") for i in ids)
    assert not (one.device_ids | one.unit_ids) & (two.device_ids | two.unit_ids)
    assert not one.grid_codes & two.grid_codes


@pytest.mark.parametrize("name", NAMES)
def test_registry_rows_are_valid(name: str) -> None:
    s = build(name, tag="0a1b2c3d", base=BASE)
    for parse, rows in (
        (registry.parse_units, s.units),
        (registry.parse_devices, s.devices),
        (registry.parse_staff, s.staff),
    ):
        assert parse(json.dumps(rows), fmt="json").errors == []


@pytest.mark.parametrize("name", NAMES)
def test_expected_hazards_name_real_rules_and_subjects(name: str) -> None:
    rules = load_rules()
    s = build(name, tag="0a1b2c3d", base=BASE)
    assert s.expected_hazards
    for h in s.expected_hazards:
        rule = rules.get(h.rule_id)
        # A hazard is raised at its rule's severity, or escalated above it (threshold tiers).
        assert Severity(h.severity).rank >= Severity(rule.severity).rank
        subjects = {"device": s.device_ids, "unit": s.unit_ids, "grid": s.grid_codes}[h.about]
        assert h.subject in subjects
        assert h.grid_code is None or h.grid_code in s.grid_codes


@pytest.mark.parametrize("name", NAMES)
def test_device_times_are_never_ahead_of_what_ingest_accepts(name: str) -> None:
    s = build(name, tag="0a1b2c3d", base=BASE)
    times = [r.ts for m in s.messages for r in m.expected] + [
        f.ts for m in s.messages for f in m.expected_fixes
    ]
    # A GB/T 26875.3 frame carries its objects' times as the step says.
    times += [s.at(t.at) for t in s.timeline if isinstance(t, Transmit)]
    assert times
    # Ingest refuses samples more than 5 min ahead of their receipt, which is after BASE.
    assert max(times) < BASE + timedelta(minutes=5)
    assert all(m.topic.startswith("fg/v1/") for m in s.messages)


@pytest.mark.parametrize("name", NAMES)
def test_ticks_come_after_the_data_they_judge(name: str) -> None:
    s = build(name, tag="0a1b2c3d", base=BASE)
    seen: list[timedelta] = []
    for step in s.timeline:
        if isinstance(step, Publish | Transmit):
            seen.append(step.at)
        elif isinstance(step, Tick):
            assert all(at < step.at for at in seen)


def test_late_data_sends_duplicates_that_store_nothing_new() -> None:
    s = build("late_data", tag="0a1b2c3d", base=BASE)
    assert len(identities(s.messages)) < sum(len(m.expected) for m in s.messages) + sum(
        1 for m in s.messages if not m.expected
    )
    payloads = [m.payload for m in s.messages]
    assert len(payloads) > len(set(payloads))


def test_prefix_is_used_for_every_topic() -> None:
    s = build("patrol", tag="0a1b2c3d", base=BASE, prefix="fgtestx/v1")
    assert {m.topic.split("/t/")[0] for m in s.messages} == {"fgtestx/v1"}


def test_unknown_scenario() -> None:
    with pytest.raises(UnknownScenarioError):
        build("no_such_scenario", tag="0a1b2c3d")


def _seen(rule: str, subject: str, status: str = "open", occ: int = 1) -> ObservedHazard:
    return ObservedHazard(rule, subject, "device", "warning", status, occ, "320000005001001")


def test_compare_is_exact_both_ways() -> None:
    want = [ExpectedHazard("r", "D1", "warning"), ExpectedHazard("r", "D1", "warning", "cleared")]
    assert compare(want, [_seen("r", "D1"), _seen("r", "D1", "cleared")]).ok
    extra = compare(want, [_seen("r", "D1"), _seen("r", "D1", "cleared"), _seen("r", "D2")])
    assert extra.extra == [_seen("r", "D2")]
    assert not extra.missing
    missing = compare(want, [_seen("r", "D1")])
    assert missing.missing == [want[1]]
    assert "missing" in str(missing)


def test_compare_pairs_exact_expectations_first() -> None:
    loose = ExpectedHazard("r", "D1", "warning")
    exact = ExpectedHazard("r", "D1", "warning", occurrences=2)
    seen = [_seen("r", "D1", occ=2), _seen("r", "D1", occ=1)]
    assert compare([loose, exact], seen).ok
    assert not compare([exact, exact], seen).ok


def test_case_closed_declares_its_case_and_who_acts() -> None:
    s = build("case_closed", tag="0a1b2c3d", base=BASE)
    (case,) = s.expected_cases
    staff = {r["staff_id"]: r["terminal_id"] for r in s.staff}
    assert {p.staff_id: p.terminal_id for p in s.terminals} == staff
    assert case.status == "closed"
    actors = dict(case.steps)
    assert actors["sign"] == actors["feedback"] == case.handled_by
    assert actors["verify"] != case.handled_by  # separation of duties


def test_case_comparison_names_each_difference() -> None:
    s = build("case_closed", tag="0a1b2c3d", base=BASE)
    (exp,) = s.expected_cases
    good = ObservedCase(
        "C-20261126-000001",
        exp.unit_id,
        exp.category,
        "closed",
        exp.assignee,
        exp.handled_by,
        exp.steps,
    )
    assert case_mismatches([exp], [good]) == []
    # A live sweep's reminder before the deadline is the clock's doing, not a difference.
    reminded = replace(good, steps=(*good.steps[:3], ("remind", "system"), *good.steps[3:]))
    assert case_mismatches([exp], [reminded]) == []
    short = replace(good, status="handled", steps=exp.steps[:5])
    assert [line.split(" ")[1] for line in case_mismatches([exp], [short])] == ["status:", "steps:"]
    # Two cases where one was expected: said once, and both left over as extra.
    two = case_mismatches([exp], [good, replace(good, case_id="C-20261126-000002")])
    assert two[0] == f"2 cases for {exp.unit_id}/{exp.category}, expected 1"
    assert [line.split(":")[0] for line in two[1:]] == ["extra", "extra"]
    assert case_mismatches([], [good])[0].startswith("extra:")


@pytest.mark.parametrize("name", [n for n in NAMES if build(n, tag="0a1b2c3d").transmits])
def test_transmission_devices_have_distinct_registered_addresses(name: str) -> None:
    s = build(name, tag="0a1b2c3d", base=BASE)
    registered = {d["gb26875_address"] for d in s.devices if d["kind"] == "transmission"}
    sent = {t.address for t in s.timeline if isinstance(t, Transmit)}
    assert sent <= registered
    assert len(registered) == len([d for d in s.devices if d["kind"] == "transmission"])
    other = build(name, tag="0a1b2c3e", base=BASE)
    assert not registered & {d.get("gb26875_address") for d in other.devices}
