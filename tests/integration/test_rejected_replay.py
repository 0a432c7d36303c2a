"""Rejected messages replayed once their devices are registered: stored once, marked, no churn."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from ingest.config import IngestSettings, StorageSettings
from ingest.flows import BatchWriter
from ingest.rejected_replay import replay_rejected
from simulators.sensors import sample
from tests.fix_ingest import IngestHarness, wait_until
from tests.integration.cli_support import run_cli

T0 = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def _replay(h: IngestHarness) -> dict[str, int]:
    writer = BatchWriter(
        db_url=h.db_url,
        settings=IngestSettings(topic_prefix=h.prefix),
        storage=StorageSettings(),
        data_dir=h.data_dir,
    )
    try:
        with psycopg.connect(h.db_url, autocommit=True) as conn:
            outcome = replay_rejected(conn, writer, prefix=h.prefix)
    finally:
        writer.close()
    return {k: v for k, v in vars(outcome).items() if k != "batches"}


def test_messages_of_an_unregistered_device_are_stored_once_it_is_registered(
    ingest: IngestHarness,
) -> None:
    early, known = ingest.device("EARLY"), ingest.device("KNOWN")
    ingest.register(known)
    messages = [
        sample(early, T0 + timedelta(minutes=i), i, {"pressure_mpa": 0.3}, prefix=ingest.prefix)
        for i in range(3)
    ]
    bad = sample(known, T0, 9, {"pressure_mpa": 99.0}, prefix=ingest.prefix)  # out of range
    ingest.publisher.publish_all([*messages, bad])
    wait_until(lambda: len(ingest.rejected()) == 4, what="four rejections")
    assert sorted(reason for _, reason, _, _ in ingest.rejected()) == [
        "out_of_range",
        *["unknown_device"] * 3,
    ]
    ingest.register(early)  # the integrator imports the device afterwards

    first = _replay(ingest)
    assert (first["messages"], first["readings"], first["rejected_again"]) == (3, 3, 0)
    stored = ingest.rows(
        "SELECT ts, seq, value FROM readings WHERE device_id = %s ORDER BY ts", early
    )
    assert stored == [(T0 + timedelta(minutes=i), i, 0.3) for i in range(3)]
    # The out-of-range sample is not a registry matter: it stays rejected, not replayed.
    pending = ingest.rows(
        "SELECT reason FROM rejected_messages WHERE starts_with(topic, %s) AND replayed_at IS NULL",
        ingest.prefix + "/",
    )
    assert pending == [("out_of_range",)]
    assert _replay(ingest)["messages"] == 0  # marked: a second replay has nothing to do


def test_the_cli_replays_and_prints_what_it_stored(ingest: IngestHarness) -> None:
    late = ingest.device("LATE")
    ingest.publisher.publish_all(
        [sample(late, T0, 1, {"pressure_mpa": 0.25, "battery_pct": 80}, prefix=ingest.prefix)]
    )
    wait_until(lambda: len(ingest.rejected()) == 1, what="the unknown device's message")
    ingest.register(late)
    done = run_cli(
        *("rejected", "replay", "--since", (T0 - timedelta(days=1)).isoformat()),
        db_url=ingest.db_url,
        timeout=120,
        env={**os.environ, "FIREGRID_INGEST__TOPIC_PREFIX": ingest.prefix},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["messages"], summary["readings"]) == (1, 2)
    assert ingest.scalar("SELECT count(*) FROM readings WHERE device_id = %s", late) == 2


def test_the_api_replays_for_an_integrator(ingest: IngestHarness) -> None:
    sensor = ingest.device("API")
    ingest.publisher.publish_all(
        [sample(sensor, T0, 3, {"pressure_mpa": 0.2}, prefix=ingest.prefix)]
    )
    wait_until(lambda: len(ingest.rejected()) == 1, what="the unknown device's message")
    ingest.register(sensor)
    app = create_app(
        ApiSettings(db_url=ingest.db_url, ingest=IngestSettings(topic_prefix=ingest.prefix)),
        broker_probe=lambda: True,
    )
    with psycopg.connect(ingest.db_url) as conn:
        integrator = create_token(conn, role="integrator", areas=[])
        viewer = create_token(conn, role="viewer", areas=[])
    with TestClient(app) as client:
        refused = client.post(
            "/api/v1/rejected/replay", headers={"Authorization": f"Bearer {viewer}"}
        )
        assert refused.status_code == 403
        answer = client.post(
            "/api/v1/rejected/replay",
            json={"since": (T0 - timedelta(days=1)).isoformat()},
            headers={"Authorization": f"Bearer {integrator}"},
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["messages"], body["readings"], body["rejected_again"]) == (1, 1, 0)
    assert ingest.scalar("SELECT value FROM readings WHERE device_id = %s", sensor) == 0.2
