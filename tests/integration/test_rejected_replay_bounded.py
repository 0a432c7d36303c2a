"""A replay ends: a message refused again for the same reason (its device still unknown) is a
new rejected row, replayed by the next replay, not fed again by this one. Found by the
schemathesis run, where POST /rejected/replay looped for ever on the test session's database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from ingest.config import IngestSettings, StorageSettings
from ingest.rejected_replay import replay_stored
from simulators.sensors import sample


@pytest.mark.timeout(60)
def test_a_message_refused_again_is_replayed_once_per_replay(db_url: str) -> None:
    prefix = f"fgt{uuid.uuid4().hex[:8]}/v1"  # this test's rows only
    message = sample("NOBODY-1", datetime(2026, 11, 26, 6, 0, tzinfo=UTC), 1, {"temp_c": 21.0},
                     prefix=prefix)  # fmt: skip
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO rejected_messages (received_at, topic, reason, payload)"
            " VALUES (now(), %s, 'unknown_device', %s)",
            (message.topic, message.payload),
        )

    def replay() -> tuple[int, int]:
        outcome = replay_stored(
            db_url,
            settings=IngestSettings(topic_prefix=prefix),
            storage=StorageSettings(),
            data_dir=None,
            reasons=["unknown_device"],
        )
        return outcome.messages, outcome.rejected_again

    assert replay() == (1, 1)  # fed once, refused again: one new row, and the replay ends
    assert replay() == (1, 1)  # the next replay feeds that new row, once
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT count(*), count(replayed_at) FROM rejected_messages WHERE topic = %s",
            (message.topic,),
        ).fetchone()
    assert rows == (3, 2)  # the original, two re-refusals; all but the last replayed
