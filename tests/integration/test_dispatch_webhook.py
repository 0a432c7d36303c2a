"""The webhook role against a real HTTP server on loopback and the real PostgreSQL.

The clock is injected: back-off is tested by moving it, never by sleeping. Other tests of the
session share the ``webhook`` cursor and may queue their own case events, so every assertion
looks at this test's events only (the server answers 200 to anything else).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from dispatch.config import WebhookSettings
from dispatch.signing import verify
from dispatch.webhook import WebhookRole
from infra.clock import FixedClock
from tests.fix_api import bearer, free_port
from tests.integration.messages_support import (
    SECRET,
    Receiver,
    append_event,
    case_delivery,
    new_case_event,
)

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def _role(db_url: str, url: str, clock: FixedClock, **more: Any) -> WebhookRole:
    settings = WebhookSettings(url=url, secret=SECRET, max_attempts=3, backoff_initial_s=10, **more)  # type: ignore[arg-type]
    return WebhookRole(db_url=db_url, settings=settings, clock=clock)


def test_a_case_event_is_posted_signed_with_the_event_id(
    db_url: str, receiver: Receiver, clock: FixedClock
) -> None:
    event_id = new_case_event(db_url)
    major = append_event(db_url, "hazard.opened", "1", {"hazard": {"severity": "major"}})
    fire = append_event(db_url, "hazard.opened", "2", {"hazard": {"severity": "critical"}})
    role = _role(db_url, receiver.url, clock)
    try:
        assert role.enqueue_pending() >= 2
        role.deliver_due()
    finally:
        role.close()

    ((heads, body),) = receiver.of(event_id)
    assert heads["webhook-id"] == str(event_id)
    assert heads["webhook-timestamp"] == str(int(T0.timestamp()))
    assert heads["content-type"] == "application/json"
    verify(SECRET, headers=heads, body=body, now=int(T0.timestamp()))
    sent = json.loads(body)
    assert sent["type"] == "case.created"
    # Staff without a terminal are in the webhook's notify list: it is the only way they hear.
    assert [n["terminal_id"] for n in sent["data"]["notify"]] == ["T-1", None]
    assert len(receiver.of(fire)) == 1
    assert receiver.of(major) == []
    assert case_delivery(db_url, major) is None
    done = case_delivery(db_url, event_id)
    assert (done.attempts, done.last_status, done.delivered_at, done.next_attempt_at) == (
        1,
        200,
        T0,
        None,
    )


def test_a_failing_delivery_backs_off_fails_is_listed_and_replayed_without_blocking_others(
    db_url: str, receiver: Receiver, clock: FixedClock
) -> None:
    failing = new_case_event(db_url)
    receiver.failing.add(str(failing))
    role = _role(db_url, receiver.url, clock)
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True, clock=clock)
    try:
        role.enqueue_pending()
        role.deliver_due()
        assert len(receiver.of(failing)) == 1
        first = case_delivery(db_url, failing)
        assert (first.attempts, first.last_status) == (1, 500)
        assert first.next_attempt_at == T0 + timedelta(seconds=10)
        assert first.last_error == "HTTP 500: no"

        # A later event is not held back by the failing one.
        later = new_case_event(db_url)
        role.enqueue_pending()
        role.deliver_due()
        assert len(receiver.of(later)) == 1
        assert len(receiver.of(failing)) == 1  # not due yet

        clock.advance(timedelta(seconds=9))
        role.deliver_due()
        assert len(receiver.of(failing)) == 1
        clock.advance(timedelta(seconds=1))
        role.deliver_due()
        assert len(receiver.of(failing)) == 2
        assert case_delivery(db_url, failing).next_attempt_at == clock.now() + timedelta(seconds=20)
        clock.advance(timedelta(seconds=20))
        role.deliver_due()  # the third and last attempt
        failed = case_delivery(db_url, failing)
        assert (failed.attempts, failed.failed_at, failed.next_attempt_at) == (3, clock.now(), None)
        clock.advance(timedelta(days=1))
        role.deliver_due()
        assert len(receiver.of(failing)) == 3

        with TestClient(app) as client:
            admin = bearer(db_url, "admin")
            listed = client.get("/api/v1/webhooks/failures?limit=1000", headers=admin)
            assert listed.status_code == 200
            (item,) = [i for i in listed.json()["items"] if i["event_id"] == failing]
            assert (item["attempts"], item["last_status"], item["kind"]) == (3, 500, "case.created")
            operator = bearer(db_url, "operator")
            assert client.get("/api/v1/webhooks/failures", headers=operator).status_code == 403
            replay_url = f"/api/v1/webhooks/failures/{failing}/replay"
            assert client.post(replay_url, headers=operator).status_code == 403

            receiver.failing.clear()
            replayed = client.post(replay_url, headers=bearer(db_url, "integrator"))
            assert replayed.status_code == 200
            assert (replayed.json()["attempts"], replayed.json()["replays"]) == (0, 1)
            role.deliver_due()
            assert len(receiver.of(failing)) == 4
            again = client.post(replay_url, headers=admin)
            assert again.status_code == 404
            assert again.json()["error"]["code"] == "not_found"
            listed = client.get("/api/v1/webhooks/failures?limit=1000", headers=admin).json()
            assert failing not in [i["event_id"] for i in listed["items"]]
    finally:
        role.close()

    delivered = case_delivery(db_url, failing)
    assert (delivered.attempts, delivered.last_status, delivered.delivered_at) == (
        1,
        200,
        clock.now(),
    )
    # One webhook-id across every try; each try signed with its own timestamp.
    tries = receiver.of(failing)
    assert len({h["webhook-timestamp"] for h, _ in tries}) == 4
    assert len({b for _, b in tries}) == 1
    for heads, body in tries:
        verify(SECRET, headers=heads, body=body, now=int(heads["webhook-timestamp"]))


def test_an_unreachable_receiver_is_a_failed_try_with_its_reason(
    db_url: str, clock: FixedClock
) -> None:
    event_id = new_case_event(db_url)
    role = _role(db_url, f"http://127.0.0.1:{free_port()}/hook", clock, timeout_s=2)
    try:
        role.enqueue_pending()
        role.deliver_due()
    finally:
        role.close()
    tried = case_delivery(db_url, event_id)
    assert (tried.attempts, tried.last_status) == (1, None)
    assert tried.last_error.startswith("ConnectError")
    assert tried.next_attempt_at == T0 + timedelta(seconds=10)
