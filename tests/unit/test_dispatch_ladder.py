"""The escalation ladder and the clock's actions, pure: who a case climbs to, rungs skipped,
the workflow's clock rows, and the codec's new fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from devices.codecs import CODECS, CodecPolicy, DecodeContext
from devices.exceptions import DecodeError
from devices.models import CaseActionMessage
from dispatch.config import LADDER, DispatchSettings
from dispatch.ladder import climb, holder
from dispatch.models import Actor, CaseAction
from dispatch.workflow import Refusal, Transition, decide
from tests.unit.test_dispatch_workflow import COMMUNITY, GRID, STREET, _case

AREAS = {
    "grid_worker": GRID,
    "grid_head": GRID,
    "community_handler": COMMUNITY,
    "street_leader": STREET,
    "county_leader": STREET[:6],
}
NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _staff(roles: set[str]) -> list[Actor]:
    return [Actor(staff_id=f"S-{r}", role=r, area=AREAS[r]) for r in sorted(roles)]


@given(
    held=st.sets(st.sampled_from(LADDER)),
    level=st.integers(0, len(LADDER) - 1),
    own=st.sampled_from(LADDER),
)
def test_a_climb_goes_to_the_lowest_held_rung_above(held: set[str], level: int, own: str) -> None:
    case = _case("dispatched", escalation_level=level)
    to = climb(case, ladder=LADDER, staff=_staff(held), assignee_role=own)
    floor = max(level, LADDER.index(own))
    above = [r for r in LADDER[floor + 1 :] if r in held]
    if above:
        assert to.staff is not None
        assert LADDER[to.level] == above[0] == to.staff.role
        assert to.level > floor
        # Every rung between is skipped, and said.
        assert to.skipped == LADDER[floor + 1 : to.level]
    else:
        assert to.staff is None
        assert to.skipped == LADDER[floor + 1 :]


def test_the_holder_is_the_narrowest_area_then_the_lowest_id() -> None:
    case = _case("dispatched")
    staff = [
        Actor(staff_id="B", role="county_leader", area=STREET[:6]),
        Actor(staff_id="A", role="county_leader", area=STREET[:6]),
        Actor(staff_id="Z", role="county_leader", area=STREET[:4]),
        Actor(staff_id="Y", role="county_leader", area="999999"),  # another county
    ]
    found = holder(staff, "county_leader", case)
    assert found is not None
    assert found.staff_id == "A"


def _act(action: str, **kw: Any) -> CaseAction:
    return CaseAction.model_validate(
        {"action_id": "a1", "case_id": "C-20261126-000001", "action": action, **kw}
    )


def test_the_clock_rows_of_the_workflow() -> None:
    case = _case("signed", stage="handle")
    extend = decide(case, _act("extend", note="x", until=NOW), "grid_worker", "W-1")
    assert isinstance(extend, Transition)
    assert (extend.clock, extend.target, extend.stage) == (True, "signed", "handle")
    no_reason = decide(case, _act("suspend"), "grid_worker", "W-1")
    assert isinstance(no_reason, Refusal)
    assert no_reason.code == "reason_required"
    by_worker = decide(case, _act("approve"), "grid_worker", "W-1", actor_area=GRID)
    assert isinstance(by_worker, Refusal)
    assert by_worker.code == "not_approver"
    by_handler = decide(case, _act("approve"), "community_handler", "CH", actor_area=COMMUNITY)
    assert isinstance(by_handler, Transition)
    closed = decide(_case("closed", stage=None), _act("resume"), "grid_worker", "W-1")
    assert isinstance(closed, Refusal)
    assert closed.code == "not_allowed_in_state"


def _decode(doc: dict[str, Any]) -> CaseActionMessage:
    base = {"action_id": "a-1", "case_id": "C-20261126-000123", "ts": "2026-11-26T07:59:00Z"}
    out = CODECS["case"](json.dumps(base | doc).encode(), DecodeContext("T1", NOW, CodecPolicy()))
    assert isinstance(out, CaseActionMessage)
    return out


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)))
def test_the_codec_takes_until_and_request_id(until: datetime) -> None:
    until = until.replace(microsecond=until.microsecond // 1000 * 1000, tzinfo=UTC)
    out = _decode({"action": "extend", "note": "x", "until": until.isoformat()})
    assert out.until == until
    approve = _decode({"action": "approve", "request_id": "a-0"})
    assert approve.request_id == "a-0"
    # What the dispatch role reads back from the stored JSON.
    stored = CaseAction.model_validate(msgspec.to_builtins(out))
    assert stored.until == until


def test_the_codec_refuses_a_bad_until() -> None:
    with pytest.raises(DecodeError) as caught:
        _decode({"action": "extend", "until": "next week"})
    assert caught.value.reason == "bad_field"


def test_the_ladder_setting_takes_staff_roles_once() -> None:
    assert DispatchSettings(ladder=("grid_worker", "department")).ladder[-1] == "department"
    with pytest.raises(ValidationError, match="not staff roles: mayor"):
        DispatchSettings(ladder=("grid_worker", "mayor"))
    with pytest.raises(ValidationError, match="twice"):
        DispatchSettings(ladder=("grid_worker", "grid_worker"))
