"""The inbox role SIGKILLed between the broker's PUBACK and its cursor's commit.

The role runs in a process of its own (``inbox_kill_worker``) and holds after the broker
acknowledged a claim's messages, before recording them and moving the cursor; it is killed
there. The restarted role sends them again: every message arrives, and a repeat carries the
same ``message_id`` and the same bytes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from dispatch.inbox import INBOX_CONSUMER
from dispatch.messages import message_id
from tests.fix_ingest import wait_until
from tests.integration.messages_support import Terminal, append_event, case_event, entry

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _worker(db_url: str, mqtt_url: str, prefix: str, marker: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.inbox_kill_worker",
            db_url,
            mqtt_url,
            prefix,
            marker,
        ],
        cwd=ROOT,
    )


def _scalar(db_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


def test_killed_after_the_pubacks_before_the_commit_repeats_with_the_same_ids(
    db_url: str, broker_url: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    prefix = f"fgk-{tag}/v1"
    # Everything before this test's events is sent first (before its terminals listen), so
    # the held claim is this test's events and the terminals see only their messages.
    assert _worker(db_url, broker_url, prefix, "-").wait(120) == 0
    terminal = Terminal(broker_url, prefix)
    try:
        first = append_event(
            db_url,
            "case.created",
            f"C-{tag}-1",
            case_event(f"C-{tag}-1", [entry("W-1", f"A-{tag}"), entry("W-2", f"B-{tag}")]),
        )
        second = append_event(
            db_url,
            "case.updated",
            f"C-{tag}-1",
            case_event(f"C-{tag}-1", [entry("W-1", f"A-{tag}", "reminder"), entry("W-9", None)]),
        )
        cursor = f"SELECT position FROM event_cursors WHERE consumer = '{INBOX_CONSUMER.name}'"
        before = _scalar(db_url, cursor)
        assert before < first

        marker = tmp_path / "held"
        proc = _worker(db_url, broker_url, prefix, str(marker))
        try:
            wait_until(marker.exists, timeout_s=60, what="the worker holding after the PUBACKs")
            held = set(marker.read_text().split())
            expected = {str(message_id(first, 0)), str(message_id(first, 1))}
            expected.add(str(message_id(second, 0)))
            assert held == expected  # both events in one claim, the entry without terminal out
            # The broker acknowledged them: they reach the terminal before anything committed.
            wait_until(lambda: len(terminal.raw()) == 3, timeout_s=10, what="3 messages")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert _scalar(db_url, cursor) == before  # died with its transaction
        recorded = "SELECT count(*) FROM inbox_messages WHERE event_id IN (%s, %s)"
        assert _scalar(db_url, recorded, first, second) == 0

        assert _worker(db_url, broker_url, prefix, "-").wait(120) == 0
        assert _scalar(db_url, cursor) >= second
        assert _scalar(db_url, recorded, first, second) == 3

        wait_until(lambda: len(terminal.raw()) == 6, timeout_s=10, what="the repeats")
        raw = terminal.raw()
        ids = Counter(m["message_id"] for _, m in terminal.messages())
        assert set(ids) == expected
        assert set(ids.values()) == {2}  # each message repeated once, under its own id
        for topic, body in raw:  # a repeat is the same message byte for byte
            assert raw.count((topic, body)) == 2
    finally:
        terminal.close()
