"""The simulated terminal's answers to its inbox, pure: what it publishes for each message."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devices.codecs import json_case
from devices.models import DecodePolicy
from devices.photos import inspect_photo
from simulators.terminal_cases import Behaviour, respond

NOW = datetime(2026, 12, 7, 2, 1, tzinfo=UTC)
CASE = {"id": "C-20261207-000123", "lat": 31.248, "lon": 121.587, "status": "dispatched"}


def message(asks: str | None, kind: str = "case_assigned", **more: Any) -> dict[str, Any]:
    return {
        "message_id": "0c8d3f4e-2a57-5b8e-8a1e-6f5f3d2c1b0a",
        "kind": kind,
        "case_id": CASE["id"],
        "asks": asks,
        "due": "2026-12-07T02:15:00Z",
        "text": "请签收",
        "case": CASE,
        **more,
    }


def answer(msg: dict[str, Any], behaviour: Behaviour = Behaviour.PROMPT) -> list[Any]:
    return respond(msg, terminal_id="T-1", behaviour=behaviour, now=NOW, seed=3, prefix="fg/v1")


def actions(msgs: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in msgs if m.topic == "fg/v1/t/T-1/case"]


def test_an_assignment_is_signed_then_handled_with_a_photo_at_the_case() -> None:
    out = answer(message("sign"))
    assert [m.topic.split("/")[4] for m in out] == ["case", "photo", "case"]
    sign, feedback = actions(out)
    assert (sign["action"], feedback["action"]) == ("sign", "feedback")
    assert feedback["position"] == {"lat": CASE["lat"], "lon": CASE["lon"]}
    photo = out[1]
    sha = hashlib.sha256(photo.payload).hexdigest()
    assert photo.topic == f"fg/v1/t/T-1/photo/{sha}"
    assert feedback["photos"] == [sha]
    meta = inspect_photo(photo.payload, sha256=sha, terminal_id="T-1")
    assert meta.content_type == "image/jpeg"
    assert meta.exif_lat is not None
    assert meta.exif_lon is not None
    assert abs(meta.exif_lat - CASE["lat"]) < 1e-5
    assert abs(meta.exif_lon - CASE["lon"]) < 1e-5


def test_a_verification_request_is_verified_on_site_with_photo_and_position() -> None:
    out = answer(message("verify"))
    (verify,) = actions(out)
    assert verify["action"] == "verify"
    assert verify["position"] == {"lat": CASE["lat"], "lon": CASE["lon"]}
    assert len(verify["photos"]) == 1
    assert out[0].topic.endswith(verify["photos"][0])


def test_rework_asks_for_feedback_again() -> None:
    assert [a["action"] for a in actions(answer(message("feedback", "rework")))] == ["feedback"]


def test_a_forgetful_worker_never_signs_but_slow_and_prompt_do() -> None:
    assert answer(message("sign"), Behaviour.FORGETFUL) == []
    assert len(actions(answer(message("sign"), Behaviour.SLOW))) == 2


def test_information_is_not_answered() -> None:
    for kind in ("closure", "refusal", "escalation", "confirmed_fire"):
        assert answer(message(None, kind)) == []


def test_every_action_decodes_under_the_contract() -> None:
    for asks in ("sign", "feedback", "verify"):
        for m in answer(message(asks)):
            if m.topic.endswith("/case"):
                action = json_case.decode(
                    m.payload, terminal_id="T-1", received_at=NOW, policy=DecodePolicy()
                )
                assert (action.case_id, action.ts) == (CASE["id"], NOW)


@given(st.text(min_size=1, max_size=40))
def test_one_message_answered_twice_is_the_same_actions(message_id: str) -> None:
    msg = message("sign", message_id=message_id)
    assert [m.payload for m in answer(msg)] == [m.payload for m in answer(msg)]
    other = message("sign", message_id=message_id + "x")
    assert {a["action_id"] for a in actions(answer(msg))}.isdisjoint(
        a["action_id"] for a in actions(answer(other))
    )
