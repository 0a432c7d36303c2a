"""The deadline sweep on the real PostgreSQL, on an injected clock (no sleeping): one reminder
before a deadline, supervision and escalation up the ladder after it, nothing twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from dispatch.config import DispatchSettings
from dispatch.sweep import sweep
from dispatch.views import rfc3339
from tests.integration.sweep_support import TABLE, Place, case, cst, events, steps

SETTINGS = DispatchSettings()


def _sweep(conn: psycopg.Connection[Any], now: datetime) -> None:
    sweep(conn, now=now, deadlines=TABLE, settings=SETTINGS)


def test_one_reminder_before_the_deadline(conn: psycopg.Connection[Any]) -> None:
    place = Place(conn)
    opened = place.open(conn, cst(11, 26, 10))  # Thursday 10:00: sign for by 11:00
    assert opened.deadline == cst(11, 26, 11)
    assert opened.remind_at == cst(11, 26, 10, 45)  # 75 % of the hour
    _sweep(conn, cst(11, 26, 10, 44))
    assert steps(conn, opened.case_id)[-1] == "dispatch"
    _sweep(conn, cst(11, 26, 10, 45))
    _sweep(conn, cst(11, 26, 10, 50))  # run again: nothing new
    assert steps(conn, opened.case_id)[-1:] == ["remind"]
    assert steps(conn, opened.case_id).count("remind") == 1
    last = events(conn, opened.case_id)[-1]
    assert last["step"]["action"] == "remind"
    assert [(n["staff_id"], n["kind"], n["asks"], n["due"]) for n in last["notify"]] == [
        (place.staff["grid_worker"], "reminder", "sign", rfc3339(cst(11, 26, 11)))
    ]
    assert case(conn, opened.case_id).reminded_for == cst(11, 26, 11)


def test_a_passed_deadline_is_supervised_and_climbs_the_ladder(
    conn: psycopg.Connection[Any],
) -> None:
    place = Place(conn)
    opened = place.open(conn, cst(11, 26, 10))
    _sweep(conn, cst(11, 26, 10, 45))
    _sweep(conn, cst(11, 26, 11))  # the deadline: 督办 and up to the grid head
    now = case(conn, opened.case_id)
    assert (now.assignee, now.escalation_level) == (place.staff["grid_head"], 1)
    assert now.deadline == cst(11, 26, 12)  # an hour of working time from 11:00
    assert steps(conn, opened.case_id)[-2:] == ["supervise", "escalate"]
    supervise, escalate = events(conn, opened.case_id)[-2:]
    assert [(n["staff_id"], n["kind"]) for n in supervise["notify"]] == [
        (place.staff["grid_worker"], "supervision")
    ]
    (told,) = escalate["notify"]
    assert (told["staff_id"], told["kind"], told["asks"]) == (
        place.staff["grid_head"],
        "escalation",
        "sign",
    )
    assert told["due"] == rfc3339(cst(11, 26, 12))
    assert told["terminal_id"] == f"T{place.staff['grid_head']}"
    assert "escalated to you (grid_head)" in told["text"]
    assert escalate["case"]["escalation_level"] == 1
    # Lunch (12:00-13:30) is not working time: the community handler has until 14:30.
    _sweep(conn, cst(11, 26, 12))
    assert case(conn, opened.case_id).assignee == place.staff["community_handler"]
    assert case(conn, opened.case_id).deadline == cst(11, 26, 14, 30)
    _sweep(conn, cst(11, 26, 14, 30))
    _sweep(conn, cst(11, 26, 15, 30))
    top = case(conn, opened.case_id)
    assert (top.assignee, top.escalation_level) == (place.staff["county_leader"], 4)
    _sweep(conn, cst(11, 26, 16, 30))  # the top: supervised, nowhere higher to go
    _sweep(conn, cst(11, 26, 17, 30))
    history = steps(conn, opened.case_id)
    assert history.count("escalate") == 4
    assert history.count("supervise") == 5
    assert history[-1] == "supervise"
    assert "top of the ladder" in events(conn, opened.case_id)[-1]["step"]["note"]
    assert case(conn, opened.case_id).deadline == cst(11, 26, 16, 30)


def test_a_rung_nobody_holds_is_skipped_and_said(conn: psycopg.Connection[Any]) -> None:
    place = Place(conn, without=("grid_head",))
    opened = place.open(conn, cst(11, 26, 10))
    _sweep(conn, cst(11, 26, 11, 5))  # late: the reminder's time and the deadline both passed
    history = steps(conn, opened.case_id)
    assert "remind" not in history  # no reminder of a deadline already gone
    assert history[-2:] == ["supervise", "escalate"]
    now = case(conn, opened.case_id)
    assert (now.assignee, now.escalation_level) == (place.staff["community_handler"], 2)
    note = events(conn, opened.case_id)[-1]["step"]["note"]
    assert "skipped grid_head: nobody holds it" in note


def test_a_night_and_weekend_between_reminder_and_deadline(
    conn: psycopg.Connection[Any],
) -> None:
    place = Place(conn)
    opened = place.open(conn, cst(11, 27, 17, 30))  # Friday 17:30: half an hour today
    assert opened.deadline == cst(11, 30, 9, 30)  # Monday morning
    assert opened.remind_at == cst(11, 30, 9, 15)  # 45 working minutes: Monday 09:15
    _sweep(conn, cst(11, 28, 12))  # Saturday and Sunday: nothing is due in working time
    _sweep(conn, cst(11, 29, 12))
    assert steps(conn, opened.case_id)[-1] == "dispatch"
    _sweep(conn, cst(11, 30, 9, 15))
    assert steps(conn, opened.case_id)[-1] == "remind"
    _sweep(conn, cst(11, 30, 9, 30))
    assert steps(conn, opened.case_id)[-3:] == ["remind", "supervise", "escalate"]


def test_a_confirmed_fire_counts_minutes_day_and_night(conn: psycopg.Connection[Any]) -> None:
    place = Place(conn)
    fire = place.open(conn, cst(11, 28, 3), rule_id="smoke_confirmed_fire", severity="critical")
    assert (fire.category, fire.urgency) == ("fire", "urgent")
    assert fire.deadline == cst(11, 28, 3, 10)  # Saturday 03:00: ten minutes to sign for
    assert fire.remind_at == cst(11, 28, 3, 5)
    _sweep(conn, cst(11, 28, 3, 5))
    _sweep(conn, cst(11, 28, 3, 10))
    assert steps(conn, fire.case_id)[-3:] == ["remind", "supervise", "escalate"]
