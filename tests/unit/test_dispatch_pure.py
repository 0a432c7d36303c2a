"""Dispatch's pure parts: the case codec, closure evidence, the case rules table, assignment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.codecs import CODECS, CodecPolicy, DecodeContext
from devices.exceptions import DecodeError
from devices.models import CaseActionMessage
from dispatch.assign import choose
from dispatch.case_rules import load_case_rules
from dispatch.evidence import check_verify_evidence, distance_m
from dispatch.exceptions import CaseRulesError
from dispatch.models import Actor, CaseAction
from dispatch.wallclock import WallClockDeadlines
from simulators.terminal import offset_m
from tests.unit.test_dispatch_workflow import _case

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SHA = "a" * 64


def _decode(doc: dict[str, Any], terminal: str = "T1") -> CaseActionMessage:
    out = CODECS["case"](json.dumps(doc).encode(), DecodeContext(terminal, NOW, CodecPolicy()))
    assert isinstance(out, CaseActionMessage)
    return out


def test_case_codec_decodes_the_contract_example() -> None:
    out = _decode(
        {
            "action_id": "1F0C7A52-5D1E-4F7E-9A33-0B8F1C2D3E4F",
            "case_id": "C-20261126-000123",
            "action": "sign",
            "ts": "2026-11-26T07:59:00Z",
            "note": "已到现场",
            "photos": [SHA.upper()],
            "position": {"lat": 31.2481, "lon": 121.5875},
        }
    )
    assert out.action_id == "1f0c7a52-5d1e-4f7e-9a33-0b8f1c2d3e4f"  # canonical UUID spelling
    assert (out.case_id, out.action, out.note, out.photos) == (
        "C-20261126-000123",
        "sign",
        "已到现场",
        [SHA],
    )
    assert (out.lat, out.lon) == (31.2481, 121.5875)
    # what the dispatch role reads back from the stored JSON
    assert (
        CaseAction.model_validate(
            json.loads(
                json.dumps(
                    {"action_id": out.action_id, "case_id": out.case_id, "action": out.action}
                )
            )
        ).action
        == "sign"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"action": "close"}, "bad_action"),
        ({"case_id": "123"}, "bad_case_id"),
        ({"action_id": "bad id!"}, "bad_action_id"),
        ({"result": "maybe"}, "bad_field"),
        ({"terminal_id": "T2"}, "terminal_mismatch"),
        ({"position": {"lat": 95, "lon": 0}}, "bad_position"),
    ],
)
def test_case_codec_rejects_a_bad_field_whole(change: dict[str, Any], reason: str) -> None:
    doc = {
        "action_id": "a-1",
        "case_id": "C-20261126-000001",
        "action": "sign",
        "ts": "2026-11-26T07:59:00Z",
        **change,
    }
    with pytest.raises(DecodeError) as err:
        _decode(doc)
    assert err.value.reason == reason


def _verify(**kw: Any) -> CaseAction:
    base = {"action_id": "v", "case_id": "C-20261126-000001", "action": "verify"}
    return CaseAction.model_validate(base | kw)


def test_evidence_needs_a_photo_and_a_position_near_the_case() -> None:
    case = _case("handled", lat=31.2, lon=121.5)
    near = offset_m(31.2, 121.5, 30, 0)
    far = offset_m(31.2, 121.5, 200, 0)
    ok = {SHA: None}
    assert (
        check_verify_evidence(
            case,
            _verify(photos=[SHA], lat=near[0], lon=near[1]),
            photo_positions=ok,
            max_distance_m=50,
        )
        is None
    )
    cases = [
        (_verify(lat=near[0], lon=near[1]), ok, "photo_required"),
        (_verify(photos=[SHA], lat=near[0], lon=near[1]), {}, "photo_missing"),
        (_verify(photos=[SHA]), ok, "position_required"),
        (_verify(photos=[SHA], lat=far[0], lon=far[1]), ok, "too_far"),
        (_verify(photos=[SHA], lat=near[0], lon=near[1]), {SHA: far}, "photo_too_far"),
    ]
    for action, photos, code in cases:
        out = check_verify_evidence(case, action, photo_positions=photos, max_distance_m=50)
        assert out is not None
        assert out.code == code
    # A rejection of the fix needs no proof that it was fixed.
    assert (
        check_verify_evidence(case, _verify(result="fail"), photo_positions={}, max_distance_m=50)
        is None
    )


@given(north=st.floats(-5000, 5000), east=st.floats(-5000, 5000))
def test_distance_matches_the_offset(north: float, east: float) -> None:
    lat, lon = offset_m(31.2, 121.5, north, east)
    assert distance_m(31.2, 121.5, lat, lon) == pytest.approx(
        (north**2 + east**2) ** 0.5, rel=0.01, abs=0.5
    )


def _hazard(rule: str, severity: str = "major", **kw: Any) -> dict[str, Any]:
    return {"rule_id": rule, "severity": severity, "kind": "device_event", **kw}


def test_shipped_case_rules_map_hazards_to_cases() -> None:
    rules = load_case_rules()
    smoke = rules.match(_hazard("smoke_alarm"))
    assert smoke is not None
    assert (smoke.category, smoke.urgency, smoke.confirmed_fire) == ("fire", "urgent", False)
    fire = rules.match(_hazard("smoke_confirmed_fire", "critical"))
    assert fire is not None
    assert (fire.category, fire.urgency, fire.confirmed_fire) == ("fire", "urgent", True)
    report = rules.match(_hazard("worker_report", "warning", detail={"category": "blocked_exit"}))
    assert report is not None
    assert (report.category, report.urgency) == ("blocked_exit", "normal")
    tilt = rules.match(_hazard("hydrant_tilt", "critical"))
    assert tilt is not None
    assert (tilt.category, tilt.urgency) == ("hydrant_problem", "urgent")
    assert rules.match(_hazard("hydrant_low_battery", "info")) is None  # below min_severity
    assert rules.match(_hazard("smoke_low_battery", "warning")) is None  # not a case


def test_a_bad_case_rules_file_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "cases.yaml"
    bad.write_text("cases:\n  - {rule: x, category: volcano}\n", encoding="utf-8")
    with pytest.raises(CaseRulesError) as err:
        load_case_rules(bad)
    assert str(bad) in str(err.value)


def test_assignment_prefers_worker_then_head_then_community_handler() -> None:
    grid, community = "310115005003007", "310115005003"
    worker = Actor(staff_id="W-2", role="grid_worker", area=grid)
    other = Actor(staff_id="W-1", role="grid_worker", area="310115005003008")
    head = Actor(staff_id="GH-1", role="grid_head", area=grid)
    handler = Actor(staff_id="CH-1", role="community_handler", area=community)
    pick = choose([other, handler, head, worker], grid_code=grid, community_code=community)
    assert (pick.staff_id, pick.reason) == ("W-2", "unit's grid worker")
    pick = choose([other, handler, head], grid_code=grid, community_code=community)
    assert (pick.staff_id, pick.reason) == ("GH-1", "grid head")
    pick = choose([other, handler], grid_code=grid, community_code=community)
    assert pick.staff_id == "CH-1"
    assert f"no grid worker or head registered for grid {grid}" in pick.reason
    pick = choose([other], grid_code=grid, community_code=community)
    assert pick.staff_id is None


def test_wall_clock_deadlines() -> None:
    d = WallClockDeadlines()
    assert (
        d.due("sign", NOW, category="fire", urgency="urgent", area_type="urban") - NOW
    ).total_seconds() == 3600
    assert (
        d.due("verify", NOW, category="x", urgency="normal", area_type="rural") - NOW
    ).total_seconds() == 7200


@given(
    action=st.sampled_from(["sign", "feedback", "return", "verify"]),
    seq=st.integers(0, 999_999),
    note=st.text(max_size=50).filter(lambda t: "\x00" not in t),
    photos=st.lists(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=3, unique=True),
    lat=st.floats(-89, 89),
    lon=st.floats(-179, 179),
    result=st.sampled_from([None, "pass", "fail"]),
)
def test_case_codec_round_trip(
    action: str, seq: int, note: str, photos: list[str], lat: float, lon: float, result: str | None
) -> None:
    case_id = f"C-20261126-{seq:06d}"
    doc: dict[str, Any] = {
        "action_id": "act-1",
        "case_id": case_id,
        "action": action,
        "ts": "2026-11-26T07:59:00Z",
        "note": note,
        "photos": photos,
        "position": {"lat": lat, "lon": lon},
    }
    if result is not None:
        doc["result"] = result
    out = _decode(doc)
    assert (out.case_id, out.action, out.note, out.photos, out.result) == (
        case_id,
        action,
        note,
        photos,
        result,
    )
    assert (out.lat, out.lon) == (lat, lon)  # WGS-84 is kept as sent
