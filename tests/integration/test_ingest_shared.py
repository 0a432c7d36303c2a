"""Ingest processes sharing a subscription each get their own client ID and stay connected.

Two processes (this one and a child) join one shared group with the same configured base ID.
With one ID between them the broker would drop each on the other's connect, in a loop; with
``<base>-<host>-<pid>`` both keep their first connection and split the messages between them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta

from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from ingest.subscriber import session_client_id
from simulators.publish import Publisher
from tests.fix_ingest import IngestHarness, wait_until

T0 = datetime(2026, 11, 21, tzinfo=UTC)
MESSAGES = 400
HOLD_S = 6.0  # how long the child stays connected: several of paho's 1 s reconnect delays

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from ingest.config import IngestSettings, StorageSettings
    from ingest.role import IngestService

    mqtt_url, db_url, prefix, base, group, hold = sys.argv[1:7]
    worker = sys.argv[7] if len(sys.argv) > 7 else None
    settings = IngestSettings(
        topic_prefix=prefix, client_id=base, shared_group=group, worker=worker
    )
    svc = IngestService(mqtt_url=mqtt_url, db_url=db_url, settings=settings,
                        storage=StorageSettings())
    svc.start()
    ok = svc.subscriber.connected.wait(10)
    print("connected" if ok else "not connected", flush=True)
    time.sleep(float(hold))
    result = {"client_id": svc.subscriber.client_id, "generation": svc.subscriber.generation,
              "batches": svc.committed_batches}
    svc.stop()
    print(json.dumps(result), flush=True)
    """
)


def test_client_id_is_the_base_without_a_shared_group() -> None:
    assert session_client_id("firegrid-ingest", shared_group=None) == "firegrid-ingest"
    assert (
        session_client_id("firegrid-ingest", shared_group="workers")
        == f"firegrid-ingest-{socket.gethostname()}-{os.getpid()}"
    )
    assert (
        session_client_id("firegrid-ingest", shared_group="workers", worker="2")
        == "firegrid-ingest-2"
    )


def _telemetry(prefix: str, device: str, n: int) -> tuple[str, bytes]:
    sample = {"ts": (T0 + timedelta(seconds=n)).isoformat(), "seq": n, "values": {"temp_c": 20}}
    return f"{prefix}/d/{device}/telemetry", json.dumps(sample).encode()


def test_a_named_worker_restarted_gets_the_share_kept_for_it(db_url: str, broker_url: str) -> None:
    """Worker 2 (a process) stops; the broker keeps its share of the group's messages in its
    session; worker 2 started again (another process, another pid) resumes that session and
    stores them, instead of leaving them there until the session expires.
    """
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    base, group = f"fg-ingest-{tag}", f"g{tag}"

    def worker_two(hold_s: float) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                broker_url,
                db_url,
                prefix,
                base,
                group,
                str(hold_s),
                "2",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        return child

    settings = IngestSettings(topic_prefix=prefix, client_id=base, shared_group=group, worker="1")
    one = IngestService(
        mqtt_url=broker_url, db_url=db_url, settings=settings, storage=StorageSettings()
    )
    one.start()
    try:
        assert one.subscriber.connected.wait(10)
        h = IngestHarness(prefix, db_url, broker_url, one, Publisher(broker_url), tag)
        device = h.device("T")
        h.register(device)
        worker_two(0).communicate(timeout=30)  # joined the group, then stopped: a restart
        with h.publisher:
            h.publisher.publish_all([_telemetry(prefix, device, n) for n in range(100)])
        again = worker_two(HOLD_S)
        wait_until(
            lambda: h.scalar("SELECT count(*) FROM readings WHERE device_id = %s", device) == 100,
            what="all 100 readings, the share kept for worker 2 included",
        )
        again.communicate(timeout=30)
    finally:
        one.stop()


def test_two_processes_in_one_shared_group_do_not_kick_each_other(
    db_url: str, broker_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    prefix = f"fgtest{tag}/v1"
    base, group = f"fg-ingest-{tag}", f"g{tag}"
    settings = IngestSettings(topic_prefix=prefix, client_id=base, shared_group=group)
    here = IngestService(
        mqtt_url=broker_url, db_url=db_url, settings=settings, storage=StorageSettings()
    )
    here.start()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, broker_url, db_url, prefix, base, group, str(HOLD_S)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert here.subscriber.connected.wait(10)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        h = IngestHarness(prefix, db_url, broker_url, here, Publisher(broker_url), tag)
        devices = [h.device(f"S{i}") for i in range(4)]
        h.register(*devices)
        msgs = [
            (
                f"{prefix}/d/{devices[n % 4]}/telemetry",
                json.dumps(
                    {
                        "ts": (T0 + timedelta(seconds=n)).isoformat(),
                        "seq": n,
                        "values": {"pressure_mpa": 0.3},
                    }
                ).encode(),
            )
            for n in range(MESSAGES)
        ]
        with h.publisher:
            for chunk in range(0, MESSAGES, 50):  # spread over a few seconds of both sessions
                h.publisher.publish_all(msgs[chunk : chunk + 50])
                time.sleep(0.1)
        wait_until(
            lambda: (
                h.scalar("SELECT count(*) FROM readings WHERE device_id LIKE %s", tag + "-%")
                == MESSAGES
            ),
            what=f"{MESSAGES} readings",
        )
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        here.stop()
    theirs = json.loads(out.strip().splitlines()[-1])
    # One connection each for the whole run: neither was dropped for the other.
    assert here.subscriber.generation == 1
    assert theirs["generation"] == 1
    assert here.subscriber.client_id != theirs["client_id"]
    assert here.subscriber.client_id.startswith(base + "-")
    assert theirs["client_id"].startswith(base + "-")
    # Both took part in the shared subscription.
    assert here.committed_batches > 0
    assert theirs["batches"] > 0
