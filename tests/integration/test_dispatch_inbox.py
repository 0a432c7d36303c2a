"""The inbox role against the real broker and PostgreSQL: case events become inbox messages."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dispatch.config import InboxSettings
from dispatch.exceptions import InboxAckError
from dispatch.inbox import INBOX_CONSUMER, InboxRole
from dispatch.messages import message_id
from firegrid.embedded import start_broker
from infra.publisher import MqttPublisher, PublisherSettings
from tests.fix_ingest import wait_until
from tests.integration.messages_support import Terminal, append_event, case_event, entry


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test's own, so no other test's messages reach its terminals."""
    return f"fgt-{uuid.uuid4().hex[:8]}/v1"


@pytest.fixture
def publisher(broker_url: str) -> Iterator[MqttPublisher]:
    pub = MqttPublisher(
        broker_url,
        settings=PublisherSettings(reconnect_max_s=1),
        client_id=f"inbox-test-{uuid.uuid4().hex[:8]}",
    )
    pub.start()
    assert pub.connected.wait(10), "the publisher could not connect"
    try:
        yield pub
    finally:
        pub.stop()


@pytest.fixture
def terminal(broker_url: str, prefix: str) -> Iterator[Terminal]:
    box = Terminal(broker_url, prefix)
    try:
        yield box
    finally:
        box.close()


def _role(db_url: str, publisher: MqttPublisher, prefix: str) -> InboxRole:
    return InboxRole(db_url=db_url, publisher=publisher, settings=InboxSettings(prefix=prefix))


def _rows(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_each_notify_entry_with_a_terminal_gets_one_message_with_the_designs_fields(
    db_url: str, publisher: MqttPublisher, terminal: Terminal, prefix: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    case_id = f"C-20261207-{tag}"
    notify = [
        entry("W-1", f"T1-{tag}"),
        entry("W-2", None, "escalation"),  # no handheld: the webhook carries it, not the inbox
        entry("W-3", f"T3-{tag}", "supervision"),
    ]
    event_id = append_event(db_url, "case.created", case_id, case_event(case_id, notify))
    other = append_event(db_url, "hazard.opened", "99", {"hazard": {"severity": "critical"}})
    role = _role(db_url, publisher, prefix)
    try:
        assert role.process_pending() >= 2
        with psycopg.connect(db_url) as conn:
            assert INBOX_CONSUMER.position(conn) >= max(event_id, other)
    finally:
        role.close()

    # Case events other tests appended go out too (to their terminals): look at this one's.
    def ours() -> dict[str, dict[str, Any]]:
        return {t: m for t, m in terminal.messages() if m["case_id"] == case_id}

    wait_until(lambda: len(ours()) == 2, timeout_s=10, what="two inbox messages")
    got = ours()
    first = got[f"{prefix}/t/T1-{tag}/inbox"]
    assert first["message_id"] == str(message_id(event_id, 0))
    assert (first["kind"], first["case_id"], first["asks"], first["due"]) == (
        "case_assigned",
        case_id,
        "sign",
        "2026-12-07T10:15:00Z",
    )
    assert first["text"] == "请签收 W-1"
    assert first["case"]["id"] == case_id
    assert first["sent_at"].endswith("Z")
    third = got[f"{prefix}/t/T3-{tag}/inbox"]
    assert (third["message_id"], third["kind"]) == (str(message_id(event_id, 2)), "supervision")

    recorded = _rows(
        db_url,
        "SELECT message_id, terminal_id, kind, case_id, sent_at <= acked_at FROM inbox_messages"
        " WHERE event_id = %s ORDER BY terminal_id",
        event_id,
    )
    assert recorded == [
        (message_id(event_id, 0), f"T1-{tag}", "case_assigned", case_id, True),
        (message_id(event_id, 2), f"T3-{tag}", "supervision", case_id, True),
    ]


def test_the_running_role_is_woken_by_an_appended_event(
    db_url: str, publisher: MqttPublisher, terminal: Terminal, prefix: str
) -> None:
    role = InboxRole(
        db_url=db_url, publisher=publisher, settings=InboxSettings(prefix=prefix, poll_s=60)
    )
    role.start()
    try:
        wait_until(lambda: role.health().state == "running", timeout_s=10, what="running")
        tag = uuid.uuid4().hex[:6]
        case_id = f"C-20261207-{tag}"
        refusal = entry("W-1", f"T-{tag}", "refusal", action_id="act-1", reason="already signed")
        append_event(db_url, "case.refused", case_id, case_event(case_id, [refusal]))
        # poll_s is 60 s: only the log's NOTIFY can bring it this soon.
        wait_until(
            lambda: any(m["case_id"] == case_id for _, m in terminal.messages()),
            timeout_s=10,
            what="the refusal",
        )
        ((_, body),) = [(t, m) for t, m in terminal.messages() if m["case_id"] == case_id]
        assert (body["kind"], body["action_id"], body["reason"]) == (
            "refusal",
            "act-1",
            "already signed",
        )
        wait_until(lambda: role.health().lag_s == 0.0, timeout_s=10, what="no lag")
    finally:
        role.stop()
    assert role.health().state == "stopped"


def test_the_cursor_waits_for_the_pubacks_while_the_broker_is_away(
    db_url: str, tmp_path: Path, prefix: str
) -> None:
    broker = start_broker(tmp_path / "broker")  # this test's own: stopping it disturbs no other
    pub = MqttPublisher(
        broker.url, settings=PublisherSettings(reconnect_max_s=1), client_id="inbox-away"
    )
    pub.start()
    terminal: Terminal | None = None
    role = InboxRole(
        db_url=db_url, publisher=pub, settings=InboxSettings(prefix=prefix, ack_timeout_s=0.5)
    )
    try:
        assert pub.connected.wait(10)
        role.process_pending()  # what other tests left: this test's claim is its own event
        broker.stop()
        wait_until(lambda: not pub.connected.is_set(), timeout_s=10, what="disconnect")
        tag = uuid.uuid4().hex[:6]
        case_id = f"C-20261207-{tag}"
        event_id = append_event(
            db_url, "case.updated", case_id, case_event(case_id, [entry("W-1", f"T-{tag}")])
        )
        with pytest.raises(InboxAckError) as err:
            role.process_next()
        assert err.value.event_ids == [event_id]
        with psycopg.connect(db_url) as conn:
            assert INBOX_CONSUMER.position(conn) < event_id  # not acknowledged: not passed
        assert _rows(db_url, "SELECT 1 FROM inbox_messages WHERE event_id = %s", event_id) == []

        broker.start()
        terminal = box = Terminal(broker.url, prefix)
        wait_until(pub.connected.is_set, timeout_s=30, what="the publisher back")
        assert role.process_pending() == 1
        wait_until(
            lambda: any(m["case_id"] == case_id for _, m in box.messages()),
            timeout_s=10,
            what="the message after the broker returned",
        )
        ids = {m["message_id"] for _, m in box.messages() if m["case_id"] == case_id}
        assert ids == {str(message_id(event_id, 0))}  # a repeat, if any, under the same id
        with psycopg.connect(db_url) as conn:
            assert INBOX_CONSUMER.position(conn) >= event_id
    finally:
        role.close()
        if terminal is not None:
            terminal.close()
        pub.stop(timeout_s=1)
        broker.stop()
