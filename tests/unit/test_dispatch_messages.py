"""Inbox messages and webhook bodies from case events, Standard Webhooks signatures, settings."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatch.config import InboxSettings, WebhookSettings
from dispatch.inbox import InboxRole
from dispatch.message_roles import message_role_factories
from dispatch.messages import (
    backoff,
    inbox_messages,
    message_id,
    webhook_body,
    webhook_wanted,
)
from dispatch.signing import SignatureError, headers, secret_key, sign, verify
from infra.eventlog import Event
from infra.publisher import MqttPublisher

AT = datetime(2026, 12, 7, 2, 0, 0, 123000, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _event(kind: str = "case.updated", notify: object = None, event_id: int = 41) -> Event:
    payload = {
        "case": {"id": "C-20261207-000001", "status": "dispatched"},
        "step": {"seq": 2, "action": "escalate"},
        "notify": notify if notify is not None else [],
    }
    return Event(event_id, kind, "C-20261207-000001", payload, AT)


def _entry(terminal: str | None, kind: str = "escalation", **more: object) -> dict[str, object]:
    return {
        "staff_id": "W-1",
        "terminal_id": terminal,
        "kind": kind,
        "asks": "sign",
        "due": "2026-12-07T03:00:00Z",
        "text": "请签收",
        **more,
    }


def test_the_spec_test_vector_signs_as_published() -> None:
    # standard-webhooks' own test vector (libraries/python/tests/test_webhooks.py).
    signature = sign(
        SECRET,
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@given(
    body=st.binary(max_size=200),
    msg_id=st.text(min_size=1, max_size=20).filter(
        lambda s: "." not in s and not any(c.isspace() for c in s)
    ),
)
def test_what_is_signed_verifies_and_a_changed_body_does_not(body: bytes, msg_id: str) -> None:
    sent = headers(SECRET, msg_id=msg_id, timestamp=1_700_000_000, body=body)
    verify(SECRET, headers=sent, body=body, now=1_700_000_010)
    with pytest.raises(SignatureError):
        verify(SECRET, headers=sent, body=body + b"x", now=1_700_000_010)


def test_an_old_timestamp_or_another_secret_does_not_verify() -> None:
    sent = headers(SECRET, msg_id="1", timestamp=1_700_000_000, body=b"{}")
    with pytest.raises(SignatureError):
        verify(SECRET, headers=sent, body=b"{}", now=1_700_000_000 + 301)
    with pytest.raises(SignatureError):
        verify("whsec_" + "A" * 32, headers=sent, body=b"{}", now=1_700_000_000)


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_AAAA", ""])
def test_a_bad_secret_is_refused(bad: str) -> None:
    with pytest.raises(SignatureError):
        secret_key(bad)


def test_webhook_settings_need_a_secret_with_a_url_and_never_print_it() -> None:
    assert not WebhookSettings().enabled
    with pytest.raises(ValidationError, match="needs a secret"):
        WebhookSettings(url="http://127.0.0.1:1/hook")
    with pytest.raises(ValidationError) as err:
        WebhookSettings(url="http://x/", secret="whsec_短")  # type: ignore[arg-type]
    assert "短" not in str(err.value)
    with pytest.raises(ValidationError, match="http"):
        WebhookSettings(url="ftp://x/", secret=SECRET)  # type: ignore[arg-type]
    on = WebhookSettings(url="https://city.example/hook", secret=SECRET)  # type: ignore[arg-type]
    assert on.enabled
    assert SECRET not in repr(on)


def test_one_message_per_entry_with_a_terminal_in_entry_order() -> None:
    event = _event(notify=[_entry("T-1"), _entry(None), _entry("T-2", "supervision"), "junk"])
    messages = inbox_messages(event)
    assert [(m.terminal_id, m.index, m.kind) for m in messages] == [
        ("T-1", 0, "escalation"),
        ("T-2", 2, "supervision"),
    ]
    body = json.loads(messages[1].body)
    assert body == {
        "message_id": str(uuid.uuid5(uuid.UUID("6f1d3c0e-8f0b-5b8e-9a43-2c6e1f4f0a11"), "41:2")),
        "kind": "supervision",
        "case_id": "C-20261207-000001",
        "asks": "sign",
        "due": "2026-12-07T03:00:00Z",
        "text": "请签收",
        "case": {"id": "C-20261207-000001", "status": "dispatched"},
        "sent_at": "2026-12-07T02:00:00.123Z",
    }
    assert messages[0].topic("fg/v1") == "fg/v1/t/T-1/inbox"


def test_a_refusal_carries_its_action_and_reason() -> None:
    event = _event(
        "case.refused", [_entry("T-9", "refusal", action_id="a-1", reason="not the assignee")]
    )
    (message,) = inbox_messages(event)
    body = json.loads(message.body)
    assert (body["kind"], body["action_id"], body["reason"]) == (
        "refusal",
        "a-1",
        "not the assignee",
    )


def test_other_kinds_and_events_without_notify_give_no_message() -> None:
    assert inbox_messages(_event("hazard.opened", [_entry("T-1")])) == []
    no_notify = Event(1, "case.created", "C-1", {"case": {"id": "C-1"}}, AT)
    assert inbox_messages(no_notify) == []


@given(event_id=st.integers(1, 2**62), index=st.integers(0, 1000))
def test_a_repeat_is_the_same_message_byte_for_byte(event_id: int, index: int) -> None:
    notify = [_entry(f"T-{i}") for i in range(index % 5 + 1)]
    first = inbox_messages(_event(notify=notify, event_id=event_id))
    again = inbox_messages(_event(notify=notify, event_id=event_id))
    assert first == again
    assert message_id(event_id, index) == message_id(event_id, index)
    assert message_id(event_id, index) != message_id(event_id + 1, index)
    assert len({m.message_id for m in first}) == len(first)


def test_the_webhook_carries_case_events_and_critical_hazards_only() -> None:
    assert webhook_wanted(_event("case.created"))
    assert webhook_wanted(_event("case.refused"))
    critical = Event(5, "hazard.opened", "5", {"hazard": {"severity": "critical"}}, AT)
    major = Event(6, "hazard.opened", "6", {"hazard": {"severity": "major"}}, AT)
    cleared = Event(7, "hazard.cleared", "5", {"hazard": {"severity": "critical"}}, AT)
    assert webhook_wanted(critical)
    assert not webhook_wanted(major)
    assert not webhook_wanted(cleared)
    body = json.loads(webhook_body(critical))
    assert body == {
        "type": "hazard.opened",
        "timestamp": "2026-12-07T02:00:00.123Z",
        "subject": "5",
        "data": {"hazard": {"severity": "critical"}},
    }


@given(attempts=st.integers(1, 10_000))
def test_backoff_doubles_from_the_first_wait_and_stays_under_the_bound(attempts: int) -> None:
    wait = backoff(attempts, initial_s=10, max_s=3600)
    assert timedelta(seconds=10) <= wait <= timedelta(seconds=3600)
    assert backoff(attempts + 1, initial_s=10, max_s=3600) >= wait
    if attempts <= 8:
        assert wait == timedelta(seconds=10 * 2 ** (attempts - 1))


def test_the_webhook_role_runs_only_with_a_url_and_the_inbox_takes_ingests_prefix() -> None:

    publisher = MqttPublisher("mqtt://127.0.0.1:1")
    off = message_role_factories(
        db_url="postgresql:///x",
        publisher=publisher,
        topic_prefix="fg/v2",
        inbox=InboxSettings(),
        webhook=WebhookSettings(),
    )
    assert set(off) == {"inbox"}
    inbox = off["inbox"]()
    assert isinstance(inbox, InboxRole)
    assert inbox.settings.prefix == "fg/v2"
    on = message_role_factories(
        db_url="postgresql:///x",
        publisher=publisher,
        topic_prefix="fg/v2",
        inbox=InboxSettings(),
        webhook=WebhookSettings(url="http://127.0.0.1:1/", secret=SECRET),  # type: ignore[arg-type]
    )
    assert set(on) == {"inbox", "webhook"}
    role = on["webhook"]()
    assert role.name == "webhook"
    assert role.health().state == "starting"
    role.stop()  # never started: closes its HTTP client
    assert role.health().state == "stopped"
