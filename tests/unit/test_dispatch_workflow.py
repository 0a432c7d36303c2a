"""The case workflow table, pure: every allowed transition and every refusal, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.models import Case, CaseAction
from dispatch.workflow import LEVELS, TRANSITIONS, Refusal, Transition, decide, level_of

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
GRID, COMMUNITY, STREET = "310115005003007", "310115005003", "310115005"
STATUSES = [
    "reported",
    "filed",
    "dispatched",
    "signed",
    "handled",
    "verified",
    "closed",
    "returned",
]
ACTIONS = ["sign", "feedback", "return", "verify", "dispatch"]


def _case(status: str, **kw: Any) -> Case:
    values: dict[str, Any] = {
        "case_id": "C-20261126-000001",
        "category": "fire",
        "urgency": "urgent",
        "status": status,
        "unit_id": "U-1",
        "grid_code": GRID,
        "community_code": COMMUNITY,
        "street_code": STREET,
        "lat": 31.2,
        "lon": 121.5,
        "area_type": "urban",
        "assignee": "W-1",
        "assignee_reason": "unit's grid worker",
        "escalation_level": 0,
        "deadline": None,
        "stage": "sign",
        "handled_by": None,
        "rework": 0,
        "created_at": T0,
        "updated_at": T0,
        "closed_at": None,
        "version": 1,
    }
    values.update(kw)
    return Case.model_validate(values)


def _act(action: str, **kw: Any) -> CaseAction:
    return CaseAction.model_validate(
        {"action_id": "a1", "case_id": "C-20261126-000001", "action": action, **kw}
    )


# (status, action, actor id, actor role, actor area, extra action fields, case fields, target)
ALLOWED = [
    ("dispatched", "sign", "W-1", "grid_worker", GRID, {}, {}, "signed"),
    ("signed", "feedback", "W-1", "grid_worker", GRID, {}, {}, "handled"),
    ("dispatched", "return", "W-1", "grid_worker", GRID, {"note": "not ours"}, {}, "returned"),
    ("signed", "return", "W-1", "grid_worker", GRID, {"note": "not ours"}, {}, "returned"),
    ("returned", "dispatch", "CH-1", "community_handler", COMMUNITY, {}, {}, "dispatched"),
    ("handled", "verify", "W-2", "grid_worker", GRID, {}, {"handled_by": "W-1"}, "verified"),
    (
        "handled",
        "verify",
        "W-2",
        "grid_worker",
        GRID,
        {"result": "fail"},
        {"handled_by": "W-1"},
        "signed",
    ),
    # a higher level of the case's area may act for the assignee
    ("dispatched", "sign", "GH-1", "grid_head", GRID, {}, {}, "signed"),
    ("signed", "feedback", "CH-1", "community_handler", COMMUNITY, {}, {}, "handled"),
    # the clock's rows: the status stays (the deadline's moves are dispatch.requests')
    *[
        (status, action, actor, role, area, fields, {}, status)
        for status in ("dispatched", "signed", "handled")
        for action, actor, role, area, fields in (
            ("extend", "W-1", "grid_worker", GRID, {"note": "x", "until": T0}),
            ("suspend", "W-1", "grid_worker", GRID, {"note": "x"}),
            ("resume", "W-1", "grid_worker", GRID, {}),
            ("approve", "CH-1", "community_handler", COMMUNITY, {}),
            ("refuse", "CH-1", "community_handler", COMMUNITY, {}),
        )
    ],
]


@pytest.mark.parametrize(
    ("status", "action", "actor", "role", "area", "fields", "case_fields", "target"), ALLOWED
)
def test_allowed_transitions(
    status: str,
    action: str,
    actor: str,
    role: str,
    area: str,
    fields: dict[str, Any],
    case_fields: dict[str, Any],
    target: str,
) -> None:
    out = decide(
        _case(status, **case_fields),
        _act(action, **fields),
        role,
        actor,
        actor_area=area,
        assignee_role="grid_worker",
    )
    assert isinstance(out, Transition), out
    assert out.target == target
    assert out.rework == (fields.get("result") == "fail")
    assert out.sets_handled_by == (action == "feedback")


def test_every_table_row_is_exercised() -> None:
    covered = {("verify_fail" if r[5].get("result") == "fail" else r[1], r[0]) for r in ALLOWED}
    assert set(TRANSITIONS) <= covered


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_anything_not_in_the_table_is_refused_with_the_state(status: str, action: str) -> None:
    if (action, status) in TRANSITIONS:
        return
    out = decide(
        _case(status, handled_by="W-9"),
        _act(action, note="why"),
        "county_leader",
        "L-1",
        actor_area=STREET[:6],
    )
    assert isinstance(out, Refusal)
    assert out.code == "not_allowed_in_state"
    assert status in out.reason


def test_a_non_assignee_of_the_same_rank_is_refused() -> None:
    out = decide(
        _case("dispatched"),
        _act("sign"),
        "grid_worker",
        "W-2",
        actor_area=GRID,
        assignee_role="grid_worker",
    )
    assert isinstance(out, Refusal)
    assert out.code == "not_assignee"
    assert "W-1" in out.reason


def test_a_higher_level_of_another_area_is_refused() -> None:
    out = decide(
        _case("dispatched"),
        _act("sign"),
        "grid_head",
        "GH-9",
        actor_area="310115005003008",
        assignee_role="grid_worker",
    )
    assert isinstance(out, Refusal)
    assert out.code == "not_assignee"


def test_the_handler_may_not_verify_their_own_work_whatever_their_rank() -> None:
    for role in ("grid_worker", "community_handler", "county_leader"):
        out = decide(
            _case("handled", handled_by="X-1", assignee="X-1"),
            _act("verify"),
            role,
            "X-1",
            actor_area=GRID,
        )
        assert isinstance(out, Refusal)
        assert out.code == "same_person"


def test_a_verifier_outside_the_area_is_refused() -> None:
    out = decide(
        _case("handled", handled_by="W-1"),
        _act("verify"),
        "grid_worker",
        "W-7",
        actor_area="310115005003008",
    )
    assert isinstance(out, Refusal)
    assert out.code == "not_in_area"


def test_a_return_needs_a_reason() -> None:
    out = decide(_case("signed"), _act("return", note="  "), "grid_worker", "W-1")
    assert isinstance(out, Refusal)
    assert out.code == "reason_required"


def test_only_a_community_handler_re_dispatches() -> None:
    out = decide(
        _case("returned", assignee="CH-1"), _act("dispatch"), "grid_worker", "W-1", actor_area=GRID
    )
    assert isinstance(out, Refusal)
    assert out.code == "not_handler"


def test_a_closed_case_takes_no_action() -> None:
    for action in ACTIONS:
        out = decide(_case("closed"), _act(action, note="x"), "operator", "O-1", actor_area=GRID)
        assert isinstance(out, Refusal)


def test_levels_are_ordered() -> None:
    assert [level_of(r) for r in LEVELS] == list(range(len(LEVELS)))
    assert level_of("operator") > level_of("county_leader")
    assert level_of("stranger") == -1


@given(
    status=st.sampled_from(STATUSES),
    action=st.sampled_from(ACTIONS),
    role=st.sampled_from([*LEVELS, "operator", "viewer"]),
    actor=st.sampled_from(["W-1", "W-2", "CH-1"]),
    handled_by=st.sampled_from([None, "W-1", "W-2"]),
)
def test_decide_never_lets_the_handler_verify_and_only_moves_along_the_table(
    status: str, action: str, role: str, actor: str, handled_by: str | None
) -> None:
    case = _case(status, handled_by=handled_by)
    out = decide(case, _act(action, note="n"), role, actor, actor_area=GRID)
    if isinstance(out, Transition):
        assert (out.source, out.target) in {(r.source, r.target) for r in TRANSITIONS.values()}
        assert out.source == status
        if action == "verify":
            assert actor != handled_by
