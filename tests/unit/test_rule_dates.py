"""Dates kind (scrap, service, monthly check, leap years) and patrol compliance."""

from __future__ import annotations

import numpy as np

from rules.kinds.dates import DatesParams, DatesSnapshot, DatesState, add_months
from rules.kinds.dates import evaluate as judge_dates
from rules.kinds.patrol import PatrolDay, PatrolParams, PatrolState
from rules.kinds.patrol import evaluate as judge_patrol
from rules.models import Resolved, Severity, cst_day, cst_day_start

SCRAP = Resolved(
    "scrap",
    "dates",
    Severity.MAJOR,
    DatesParams("scrap", scrap_years={"water": 6, "dry_powder": 10, "clean_agent": 10, "co2": 12}),
)
SERVICE = Resolved(
    "service",
    "dates",
    Severity.WARNING,
    DatesParams(
        "service",
        service_first_years={"water": 3, "dry_powder": 5, "co2": 5},
        service_every_years={"water": 1, "dry_powder": 2, "co2": 2},
    ),
)
MONTHLY = Resolved("check", "dates", Severity.INFO, DatesParams("monthly_check"))


def test_add_months_falls_back_to_the_last_day_of_the_month() -> None:
    d = np.array(["2016-02-29", "2020-02-29", "2024-01-31", "2023-03-15"], "datetime64[D]")
    out = add_months(d, [120, 48, 1, 12])
    assert out.astype(str).tolist() == ["2026-02-28", "2024-02-29", "2024-02-29", "2024-03-15"]


def test_scrap_age_by_agent_across_leap_years() -> None:
    devices = ["E-leap", "E-water", "E-co2", "E-unknown", "E-nodate"]
    agents = ["dry_powder", "water", "co2", "foam", "water"]
    made = ["2016-02-29", "2020-03-01", "2014-02-28", "2000-01-01", None]
    day1 = DatesSnapshot.build(
        today="2026-02-27", device=devices, agent=agents, manufactured_on=made
    )
    state, trs = judge_dates(day1, DatesState(), SCRAP)
    assert [(t.key, t.kind) for t in trs] == []  # nothing due on 27 Feb 2026
    day2 = DatesSnapshot.build(
        today="2026-02-28", device=devices, agent=agents, manufactured_on=made
    )
    state, trs = judge_dates(day2, state, SCRAP)
    assert [(t.key, t.kind, t.detail["due_on"]) for t in trs] == [
        ("E-co2", "open", "2026-02-28"),
        ("E-leap", "open", "2026-02-28"),  # 29 Feb + 10 y falls back to 28 Feb
    ]
    assert trs[0].ts == cst_day_start(cst_day(trs[0].ts))  # stamped at CST midnight
    day3 = DatesSnapshot.build(
        today="2026-03-01", device=devices, agent=agents, manufactured_on=["2026-01-01", *made[1:]]
    )
    state, trs = judge_dates(day3, state, SCRAP)  # E-leap replaced by a new one
    assert [(t.key, t.kind) for t in trs] == [("E-water", "open"), ("E-leap", "clear")]


def test_service_first_then_every_interval() -> None:
    snap = DatesSnapshot.build(
        today="2026-06-01",
        device=["W-new", "W-served", "D-old", "D-served"],
        agent=["water", "water", "dry_powder", "dry_powder"],
        manufactured_on=["2023-06-01", "2020-01-01", "2021-06-02", "2015-01-01"],
        last_service=[None, "2025-06-02", None, "2024-06-01"],
    )
    _, trs = judge_dates(snap, DatesState(), SERVICE)
    assert [(t.key, t.detail["due_on"]) for t in trs] == [
        ("D-served", "2026-06-01"),
        ("W-new", "2026-06-01"),
    ]


def test_monthly_check_is_overdue_the_day_after() -> None:
    snap = DatesSnapshot.build(
        today="2026-03-01",
        device=["A", "B", "C"],
        agent=["water", "co2", "water"],
        manufactured_on=["2020-01-01", "2020-01-01", "2020-01-01"],
        installed_on=[None, "2026-01-31", None],
        last_check=["2026-01-31", None, "2026-02-01"],
    )
    # A: checked 31 Jan, due 28 Feb, overdue 1 Mar. B: installed 31 Jan, same. C: due 1 Mar.
    _, trs = judge_dates(snap, DatesState(), MONTHLY)
    assert [(t.key, t.detail["due_on"]) for t in trs] == [("A", "2026-02-28"), ("B", "2026-02-28")]
    half = Resolved(
        "check", "dates", Severity.INFO, DatesParams("monthly_check", check_every_days=15)
    )
    _, trs = judge_dates(snap, DatesState(), half)
    assert [t.key for t in trs] == ["A", "B", "C"]


DAY = cst_day(1_795_674_600_000)  # 2026-11-26 CST
H = 3_600_000


def patrol_day(segments: list[tuple[str, int, int, bool]], grids: list[str]) -> PatrolDay:
    base = cst_day_start(DAY)
    return PatrolDay.build(
        day=DAY,
        grids=grids,
        grid=[s[0] for s in segments],
        start=[base + s[1] for s in segments],
        end=[base + s[2] for s in segments],
        valid=[s[3] for s in segments],
    )


RULE = Resolved("grid_patrol", "patrol_compliance", Severity.WARNING, PatrolParams())


def test_two_valid_patrols_of_an_hour_make_a_grid_compliant() -> None:
    segs = [
        ("G-ok", 8 * H, 9 * H, True),
        ("G-ok", 14 * H, 15 * H + 1, True),
        ("G-short", 8 * H, 9 * H - 1, True),  # 1 ms short of an hour
        ("G-short", 14 * H, 16 * H, True),
        ("G-invalid", 8 * H, 10 * H, False),  # phone on a desk: invalid
        ("G-invalid", 14 * H, 16 * H, True),
        ("G-overlap", 8 * H, 10 * H, True),  # two workers walking together: one patrol
        ("G-overlap", 9 * H, 11 * H, True),
        ("G-elsewhere", 8 * H, 10 * H, True),  # not a grid we must judge
        ("G-ok", -2 * H, -H, True),  # yesterday's patrol does not count today
    ]
    grids = ["G-ok", "G-short", "G-invalid", "G-overlap", "G-none"]
    state, trs = judge_patrol(patrol_day(segs, grids), PatrolState(), RULE)
    assert [(t.key, t.kind, t.value) for t in trs] == [
        ("grid:G-invalid", "open", 1),
        ("grid:G-none", "open", 0),
        ("grid:G-overlap", "open", 1),
        ("grid:G-short", "open", 1),
    ]
    assert {t.ts for t in trs} == {cst_day_start(DAY + 1)}
    # Next day G-short is patrolled properly; the others stay short: updates, not new episodes.
    nxt = PatrolDay.build(
        day=DAY + 1,
        grids=grids,
        grid=["G-short", "G-short", "G-ok", "G-ok"],
        start=[cst_day_start(DAY + 1) + h * H for h in (8, 14, 8, 14)],
        end=[cst_day_start(DAY + 1) + h * H for h in (10, 16, 10, 16)],
        valid=[True] * 4,
    )
    _, trs = judge_patrol(nxt, state, RULE)
    assert [(t.key, t.kind) for t in trs] == [
        ("grid:G-invalid", "update"),
        ("grid:G-none", "update"),
        ("grid:G-overlap", "update"),
        ("grid:G-short", "clear"),
    ]
