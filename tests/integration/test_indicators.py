"""Indicators on the real PostgreSQL: cases with known histories (indicator_support) counted
per grid, community and worker; late closure, rework, returns, patrols from the segments,
ratings when kept; the API's area scope and its errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from api.tokens import create_token
from dispatch.config import IndicatorWeights
from dispatch.indicator_service import indicators
from dispatch.indicators import Indicator, Level
from grids.flows import import_grid_file
from simulators.grid_layout import generate_street
from tests.fix_api import api_client
from tests.integration.indicator_support import T0, Place, build_history, build_place

DAY = (T0, T0 + timedelta(days=1))
W = IndicatorWeights()


def _by_code(
    conn: psycopg.Connection[Any], place: Place, level: Level, *areas: list[str]
) -> dict[str, Indicator]:
    items = indicators(
        conn,
        level=level,
        start=DAY[0],
        end=DAY[1],
        areas=[[place.community], *areas],
        weights=W,
    )
    return {i.code: i for i in items}


def test_grid_indicators_count_every_case_as_its_history_says(
    conn: psycopg.Connection[Any],
) -> None:
    place = build_place(conn)
    build_history(conn, place)
    grids = _by_code(conn, place, "grid")
    assert sorted(grids) == place.grids  # every grid of the area, cases or not
    g1 = grids[place.g1]
    counts = (
        g1.due,
        g1.closed,
        g1.closed_on_time,
        g1.signed_on_time,
        g1.returned,
        g1.rework,
        g1.escalations,
        g1.extensions,
    )
    # A, B, C, H closed (B late: signed two hours after dispatch; H verified late); D
    # returned; E waiting; G's deadline is the next day.
    assert counts == (6, 4, 2, 4, 1, 1, 0, 0)
    assert (g1.closure_rate, g1.on_time_rate, g1.rework_rate) == (4 / 6, 2 / 6, 1 / 4)
    # W's two patrols (V's overlapping one merges with the first); invalid and short ones and
    # the next day's do not count.
    assert (g1.patrols_done, g1.patrols_required) == (2, 2)
    assert g1.rating_mean is None
    g2 = grids[place.g2]
    assert (g2.due, g2.closed, g2.closed_on_time, g2.patrols_done, g2.patrols_required) == (
        1,
        0,
        0,
        0,
        2,
    )
    assert g2.rework_rate is None  # nothing closed: no rate
    # closure 4/6, on time 2/6, signed 4/6, no rework 3/4, patrols 1, no rating (its weight
    # shared out)
    expected = (25 * 4 / 6 + 30 * 2 / 6 + 10 * 4 / 6 + 10 * 3 / 4 + 15 * 1.0) / 90 * 100
    assert g1.score == round(expected, 1)


def test_community_and_worker_indicators(conn: psycopg.Connection[Any]) -> None:
    place = build_place(conn)
    build_history(conn, place)
    community = _by_code(conn, place, "community")[place.community]
    assert (community.due, community.closed, community.returned) == (7, 4, 1)
    assert (community.patrols_done, community.patrols_required) == (2, 8)
    street = _by_code(conn, place, "street")[place.street]
    assert (street.due, street.closed_on_time) == (7, 2)
    workers = _by_code(conn, place, "worker")
    w, ch, v = (workers[place.staff(n)] for n in ("W", "CH", "V"))
    # W handled A, B, C, H and is E's assignee; D (returned) and F (no one in its grid) are
    # CH's.
    assert (w.due, w.closed, w.closed_on_time, w.signed_on_time, w.rework) == (5, 4, 2, 3, 1)
    assert (w.patrols_done, w.patrols_required) == (2, 2)  # only W's own segments
    assert (ch.due, ch.closed, ch.returned, ch.signed_on_time) == (2, 0, 1, 1)
    assert ch.patrols_required is None  # not a grid worker: no 一日双巡 of their own
    assert (v.due, v.score) == (0, None)


def test_residents_ratings_are_averaged_over_the_due_cases(conn: psycopg.Connection[Any]) -> None:
    place = build_place(conn)
    cases = build_history(conn, place)
    conn.cursor().executemany(
        "INSERT INTO case_ratings (report_id, case_id, rating, rated_at) VALUES (%s, %s, %s, %s)",
        [  # G is not due in the period
            (f"R-{uuid.uuid4().hex[:8]}", cases[c], rating, T0)
            for c, rating in (("A", 5), ("B", 2), ("G", 1))
        ],
    )
    g1 = _by_code(conn, place, "grid")[place.g1]
    assert (g1.rating_mean, g1.ratings) == (3.5, 2)


def test_an_extension_or_escalation_step_is_counted_and_an_escalated_case_is_late(
    conn: psycopg.Connection[Any],
) -> None:
    place = build_place(conn)
    cases = build_history(conn, place)
    # Engineer ESC's steps, as they will be recorded: counted by name.
    for action in ("extend", "escalate"):
        conn.execute(
            "INSERT INTO case_history (case_id, seq, action, to_status, at)"
            " SELECT case_id, max(seq) + 1, %s, 'closed', %s FROM case_history"
            " WHERE case_id = %s GROUP BY case_id",
            (action, T0, cases["A"]),
        )
    g1 = _by_code(conn, place, "grid")[place.g1]
    assert (g1.extensions, g1.escalations, g1.closed_on_time) == (1, 1, 1)  # A no longer


def test_api_scopes_to_the_token_and_refuses_bad_periods(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        place = build_place(conn)
        build_history(conn, place)
        scoped = create_token(conn, role="operator", areas=[place.g2])
        full = create_token(conn, role="operator", areas=[place.community])
    client = api_client(db_url)
    period = {"from": DAY[0].isoformat(), "to": DAY[1].isoformat()}

    def get(token: str, **params: str) -> Any:
        return client.get(
            "/api/v1/indicators",
            params=period | params,
            headers={"Authorization": f"Bearer {token}"},
        )

    with client:
        answer = get(scoped, level="grid")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [i["code"] for i in body["items"]] == [place.g2]
        assert body["next_cursor"] is None
        assert (body["level"], body["from"][:10]) == ("grid", "2026-11-26")
        g1 = get(full, level="grid", area=place.g1).json()["items"]
        assert [(i["code"], i["due"], i["closed_on_time"]) for i in g1] == [(place.g1, 6, 2)]
        # An area outside the token's answers nothing of it.
        assert get(scoped, level="grid", area=place.g1).json()["items"] == []
        workers = get(full, level="worker").json()["items"]
        assert {i["code"] for i in workers} == {place.staff(n) for n in ("W", "V", "CH")}
        for params, code in (
            ({"from": period["to"], "to": period["from"]}, "invalid_period"),
            ({"from": "2026-11-26T16:00:00"}, "invalid_time"),
            ({"area": "31011500500300x"}, "invalid_area"),
        ):
            refused = get(full, **params)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == code
        bad_level = get(full, level="planet")
        assert bad_level.status_code in (400, 422)
        assert "error" in bad_level.json()


def test_patrols_required_count_the_days_come_and_in_force(conn: psycopg.Connection[Any]) -> None:
    # November in China; "now" is 27 November at noon: the 28th to the 30th ask for nothing yet.
    place = build_place(conn)  # in force since 1 November
    later = generate_street(
        lat=31.3,
        lon=120.7,
        street_code=f"34{uuid.uuid4().int % 10_000:04d}008",
        communities=1,
        grids_per_community=4,
    )
    # A street merged later, in force since 20 November: its grids owe patrols from then on.
    import_grid_file(conn, data=later, source="test_indicators", effective="2026-11-20")
    streets = [place.street, str(later["features"][0]["properties"]["code"])]
    november = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))

    def required(now: datetime | None) -> list[int | None]:
        found = indicators(
            conn,
            level="street",
            start=november[0],
            end=november[1],
            areas=[streets],
            weights=W,
            now=now,
        )
        return [{i.code: i for i in found}[s].patrols_required for s in streets]

    grids = 4  # per street, two patrols a day each
    assert required(T0 + timedelta(hours=12)) == [grids * 2 * 27, grids * 2 * 8]
    assert required(None) == [grids * 2 * 30, grids * 2 * 11]  # the whole period
    # Before the later street came in force it owes nothing.
    assert required(datetime(2026, 11, 10, 4, tzinfo=UTC)) == [grids * 2 * 10, 0]
