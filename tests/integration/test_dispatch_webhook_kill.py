"""The webhook role SIGKILLed between a POST's answer and its record: the repeat keeps its id.

Also the role as it runs in ``firegrid up``: its thread, woken by the log, delivers on its own.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from dispatch.config import WebhookSettings
from dispatch.signing import verify
from dispatch.webhook import WebhookRole
from tests.fix_ingest import wait_until
from tests.integration.messages_support import SECRET, Receiver, case_delivery, new_case_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _worker(db_url: str, url: str, event_id: int, marker: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.webhook_kill_worker",
            db_url,
            url,
            str(event_id),
            marker,
        ],
        cwd=ROOT,
    )


@pytest.mark.slow
def test_killed_after_the_post_before_its_record_posts_again_with_the_same_id(
    db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    event_id = new_case_event(db_url)
    marker = tmp_path / "held"
    proc = _worker(db_url, receiver.url, event_id, str(marker))
    try:
        wait_until(marker.exists, timeout_s=60, what="the worker holding after the POST")
        assert len(receiver.of(event_id)) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    queued = case_delivery(db_url, event_id)
    assert (queued.attempts, queued.delivered_at) == (0, None)  # the try died with its record

    assert _worker(db_url, receiver.url, event_id, "-").wait(120) == 0
    tries = receiver.of(event_id)
    assert len(tries) == 2
    assert {h["webhook-id"] for h, _ in tries} == {str(event_id)}
    assert tries[0][1] == tries[1][1]
    for heads, body in tries:
        verify(SECRET, headers=heads, body=body, now=int(heads["webhook-timestamp"]))
    done = case_delivery(db_url, event_id)
    assert (done.attempts, done.last_status) == (1, 200)
    assert done.delivered_at is not None


def test_the_running_role_delivers_an_appended_event_on_its_own(
    db_url: str, receiver: Receiver
) -> None:
    settings = WebhookSettings(url=receiver.url, secret=SecretStr(SECRET), poll_s=60)
    role = WebhookRole(db_url=db_url, settings=settings)
    role.start()
    try:
        wait_until(lambda: role.health().state == "running", timeout_s=10, what="running")
        started = time.monotonic()
        event_id = new_case_event(db_url)
        # poll_s is 60 s: only the log's NOTIFY can bring it this soon.
        wait_until(lambda: len(receiver.of(event_id)) == 1, timeout_s=10, what="the POST")
        assert time.monotonic() - started < 10
        wait_until(lambda: role.health().lag_s == 0.0, timeout_s=10, what="no lag")
    finally:
        role.stop()
    assert role.health().state == "stopped"
