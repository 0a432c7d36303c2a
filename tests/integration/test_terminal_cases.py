"""The simulated terminal's inbox session on the real broker: persistent, deduplicating, paced."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from simulators.publish import Publisher
from simulators.terminal_cases import Behaviour, CaseTerminal
from tests.fix_ingest import wait_until


def inbox_message(case_id: str, asks: str | None, message_id: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "message_id": message_id or str(uuid.uuid4()),
        "kind": "case_assigned" if asks else "closure",
        "case_id": case_id,
        "asks": asks,
        "due": None,
        "text": "…",
        "case": {"id": case_id, "lat": 31.25, "lon": 120.6},
        "sent_at": "2026-12-07T02:00:00Z",
    }
    return json.dumps(body).encode()


def test_messages_sent_while_away_arrive_and_a_repeat_is_answered_once(broker_url: str) -> None:
    prefix, tid = f"fgt{uuid.uuid4().hex[:8]}/v1", f"T-{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}/t/{tid}/inbox"
    CaseTerminal(broker_url, tid, prefix=prefix).start().close()  # the session now exists
    same = str(uuid.uuid4())
    with Publisher(broker_url, client_id=f"svc-{tid}") as service:
        service.publish_all(
            [
                (topic, inbox_message("C-20261207-000001", "sign", same)),
                (topic, inbox_message("C-20261207-000001", "sign", same)),  # after a crash
                (topic, inbox_message("C-20261207-000002", "verify")),
            ]
        )
    with CaseTerminal(broker_url, tid, prefix=prefix) as terminal:
        wait_until(lambda: len(terminal.actions()) == 3, what="the answers to the held messages")
        time.sleep(0.3)  # a repeat would be answered by now
        assert [(a["case_id"], a["action"]) for a in terminal.actions()] == [
            ("C-20261207-000001", "sign"),
            ("C-20261207-000001", "feedback"),
            ("C-20261207-000002", "verify"),
        ]
        assert len(terminal.messages()) == 2


def test_slow_waits_and_forgetful_never_signs(broker_url: str) -> None:
    prefix = f"fgt{uuid.uuid4().hex[:8]}/v1"
    slow_id, lazy_id = f"T-S-{uuid.uuid4().hex[:6]}", f"T-F-{uuid.uuid4().hex[:6]}"
    slow = CaseTerminal(broker_url, slow_id, prefix=prefix, behaviour=Behaviour.SLOW, delay_s=1.0)
    lazy = CaseTerminal(broker_url, lazy_id, prefix=prefix, behaviour=Behaviour.FORGETFUL)
    with slow, lazy, Publisher(broker_url, client_id=f"svc-{slow_id}") as service:
        started = time.monotonic()
        service.publish_all(
            [
                (f"{prefix}/t/{slow_id}/inbox", inbox_message("C-20261207-000003", "sign")),
                (f"{prefix}/t/{lazy_id}/inbox", inbox_message("C-20261207-000004", "sign")),
            ]
        )
        wait_until(lambda: len(slow.actions()) == 2, what="the slow worker's answer")
        assert time.monotonic() - started >= 1.0
        assert len(lazy.messages()) == 1
        assert lazy.actions() == []
