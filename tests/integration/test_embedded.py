"""The embedded Mosquitto and PostgreSQL: lifecycle, persistence, crash recovery, broker check."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firegrid.broker_check import BrokerCheckError, check_queue_limit
from firegrid.embedded import (
    EmbeddedBroker,
    EmbeddedError,
    EmbeddedPostgres,
    MosquittoNotFoundError,
    find_mosquitto,
    render_mosquitto_conf,
    start_broker,
    start_postgres,
)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker private to one test, which the test may stop, kill and restart."""
    broker = start_broker(tmp_path / "mq")
    yield broker
    broker.stop()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL private to one test, which the test may stop, kill and restart."""
    server = start_postgres(tmp_path / "pg")
    yield server
    server.stop()


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def _running(pid: int) -> bool:
    # Not os.kill(pid, 0): here PID 1 does not reap orphans, so a stopped one stays a zombie.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _free_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


def _client(broker: EmbeddedBroker, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    return client


def _close(client: mqtt.Client) -> None:
    # Stopping the loop before it has sent DISCONNECT would leave the socket open.
    done = threading.Event()
    client.on_disconnect = lambda *_args: done.set()
    client.disconnect()
    assert done.wait(10), "no disconnect"
    client.loop_stop()


def _connect(client: mqtt.Client, broker: EmbeddedBroker, *, clean_start: bool) -> None:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=clean_start, properties=props)
    client.loop_start()


class _Subscriber:
    """A persistent-session subscriber that counts distinct payloads."""

    def __init__(self, broker: EmbeddedBroker, topic: str) -> None:
        self.broker, self.topic = broker, topic
        self.client_id = f"sub-{uuid.uuid4().hex[:8]}"
        self.received: set[bytes] = set()
        self.session_present: bool | None = None
        self.subscribed = threading.Event()

    def _new_client(self) -> mqtt.Client:
        # A fresh paho client per connection: loop_start() on a reused one leaks a socket pair.
        client = _client(self.broker, self.client_id)
        client.on_message = lambda _c, _u, msg: self.received.add(bytes(msg.payload))
        client.on_subscribe = lambda *_args: self.subscribed.set()
        client.on_connect = self._on_connect
        return client

    def _on_connect(self, _c: Any, _u: Any, flags: mqtt.ConnectFlags, *_rest: Any) -> None:
        self.session_present = flags.session_present

    def open_session(self) -> None:
        client = self._new_client()
        # clean_start False from the first connection, as ingest does: Mosquitto 2.0 writes a
        # session to disk only if its last CONNECT had clean_start False, session expiry or not.
        _connect(client, self.broker, clean_start=False)
        client.subscribe(self.topic, qos=1)
        assert self.subscribed.wait(10), "no SUBACK"
        _close(client)

    def collect(self, expected: int, timeout_s: float = 60) -> int:
        client = self._new_client()
        _connect(client, self.broker, clean_start=False)
        deadline = time.monotonic() + timeout_s
        while len(self.received) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        _close(client)
        return len(self.received)


def _publish(broker: EmbeddedBroker, topic: str, count: int) -> None:
    client = _client(broker, f"pub-{uuid.uuid4().hex[:8]}")
    _connect(client, broker, clean_start=True)
    infos = [client.publish(topic, str(i).encode(), qos=1) for i in range(count)]
    for info in infos:
        info.wait_for_publish(30)
    assert all(info.is_published() for info in infos), "broker did not acknowledge every publish"
    _close(client)


# --- broker ---------------------------------------------------------------------------------


def test_missing_mosquitto_says_how_to_install() -> None:
    with pytest.raises(MosquittoNotFoundError, match=r"apt-get install -y mosquitto"):
        find_mosquitto(search_path="/nonexistent", fallbacks=())


def test_rendered_config_raises_queue_limits(tmp_path: Path) -> None:
    lines = set(render_mosquitto_conf(port=18830, data_dir=tmp_path).splitlines())
    assert {
        "listener 18830 127.0.0.1",
        "persistence true",
        f"persistence_location {tmp_path}/",
        "max_queued_messages 1000000",
        "max_queued_bytes 0",
        "max_inflight_messages 10000",
    } <= lines
    assert not any(line.startswith("message_size_limit") for line in lines)


def test_broker_stops_and_restarts_on_its_port(own_broker: EmbeddedBroker) -> None:
    assert own_broker.url == f"mqtt://127.0.0.1:{own_broker.port}"
    assert _accepts(own_broker.host, own_broker.port)
    own_broker.stop()
    own_broker.stop()  # idempotent
    assert not _accepts(own_broker.host, own_broker.port)
    own_broker.start()
    assert _accepts(own_broker.host, own_broker.port)
    own_broker.kill()
    assert not _accepts(own_broker.host, own_broker.port)
    own_broker.start()
    assert _accepts(own_broker.host, own_broker.port)
    assert (own_broker.data_dir / "mosquitto.db").exists()  # saved by the graceful stop


def test_broker_on_a_taken_port_fails_with_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedError, match="Address already in use"):
            start_broker(tmp_path / "mq", port=port)


def test_broker_replaces_one_left_by_a_crashed_parent(tmp_path: Path) -> None:
    port = _free_port()
    code = (
        "import os, sys; from pathlib import Path; from firegrid.embedded import start_broker;"
        f"start_broker(Path(sys.argv[1]), port={port}); os._exit(0)"  # skips atexit: a crash
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "mq")], check=True, timeout=60)
    pid = int((tmp_path / "mq" / "mosquitto.pid").read_text())
    assert _accepts("127.0.0.1", port), "the orphan broker should still be running"
    broker = start_broker(tmp_path / "mq", port=port)
    try:
        assert broker.port == port
        assert not _running(pid)
    finally:
        broker.stop()


@pytest.mark.parametrize("restart", [False, True], ids=["no-restart", "broker-restart"])
def test_offline_session_gets_all_20000_qos1_messages(
    own_broker: EmbeddedBroker, restart: bool
) -> None:
    topic = f"t/{uuid.uuid4().hex[:8]}"
    subscriber = _Subscriber(own_broker, topic)
    subscriber.open_session()
    _publish(own_broker, topic, 20_000)
    if restart:
        own_broker.stop()
        own_broker.start()
    assert subscriber.collect(20_000) == 20_000
    assert subscriber.session_present is True


# --- broker check ---------------------------------------------------------------------------


def test_check_flags_a_broker_with_debian_defaults(debian_broker_url: str) -> None:
    result = check_queue_limit(debian_broker_url)
    assert not result.ok
    assert result.sent == 1500
    assert result.delivered < result.sent
    assert "max_queued_messages" in result.message
    assert "max_queued_bytes" in result.message


def test_check_passes_the_embedded_broker(broker_url: str) -> None:
    result = check_queue_limit(broker_url)
    assert result.ok, result.message
    assert result.delivered == result.sent == 1500


def test_check_leaves_no_session_behind(own_broker: EmbeddedBroker) -> None:
    control = _Subscriber(own_broker, "t/control")
    control.open_session()  # a session left behind on purpose: proves the file shows sessions
    check_queue_limit(own_broker.url, probe_messages=10)
    own_broker.stop()  # saves every session the broker still holds
    saved = (own_broker.data_dir / "mosquitto.db").read_bytes()
    assert control.client_id.encode() in saved
    assert b"firegrid-probe" not in saved


def test_check_on_an_unreachable_broker_raises() -> None:
    port = _free_port()
    with pytest.raises(BrokerCheckError, match=f"127.0.0.1:{port}"):
        check_queue_limit(f"mqtt://user:secret@127.0.0.1:{port}", timeout_s=2)


def test_check_message_hides_credentials(own_broker: EmbeddedBroker) -> None:
    url = f"mqtt://fg:s3cret@127.0.0.1:{own_broker.port}"
    result = check_queue_limit(url, probe_messages=10)
    assert result.ok
    assert "s3cret" not in result.message


# --- PostgreSQL -----------------------------------------------------------------------------


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM crash_probe").fetchone()
        assert row is not None
        return int(row[0])


def test_postgres_urls_and_database(own_postgres: EmbeddedPostgres) -> None:
    with psycopg.connect(own_postgres.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("firegrid",)
        assert conn.info.server_version >= 180_000  # the wheel's PostgreSQL 18
    with psycopg.connect(own_postgres.admin_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
    assert "host=" in own_postgres.url  # a Unix socket, no TCP port


def test_postgres_stops_and_restarts_with_its_data(own_postgres: EmbeddedPostgres) -> None:
    with psycopg.connect(own_postgres.url) as conn:
        conn.execute("CREATE TABLE crash_probe (n int)")
        conn.execute("INSERT INTO crash_probe SELECT generate_series(1, 100)")
    own_postgres.stop()
    own_postgres.stop()  # idempotent
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(own_postgres.url, connect_timeout=2).close()
    own_postgres.start()
    assert _count(own_postgres.url) == 100


def test_postgres_survives_kill_with_committed_data(own_postgres: EmbeddedPostgres) -> None:
    with psycopg.connect(own_postgres.url) as conn:
        conn.execute("CREATE TABLE crash_probe (n int)")
        conn.execute("INSERT INTO crash_probe SELECT generate_series(1, 10000)")
    pending = psycopg.connect(own_postgres.url)
    pending.execute("INSERT INTO crash_probe SELECT generate_series(1, 500)")  # never committed
    own_postgres.kill()
    pending.close()
    own_postgres.start()
    assert _count(own_postgres.url) == 10_000


def test_postgres_starts_over_a_stale_pid_naming_another_process(
    own_postgres: EmbeddedPostgres,
) -> None:
    with psycopg.connect(own_postgres.url) as conn:
        conn.execute("CREATE TABLE crash_probe (n int)")
        conn.execute("INSERT INTO crash_probe VALUES (1)")
    own_postgres.kill()
    # After a kill -9 the PID in postmaster.pid may belong to an unrelated process by the time
    # we restart (containers reuse PIDs); PostgreSQL alone would refuse to start.
    pid_file = own_postgres.data_dir / "pgdata" / "postmaster.pid"
    with subprocess.Popen(["sleep", "60"]) as stranger:
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(stranger.pid), *lines[1:]]) + "\n")
        try:
            own_postgres.start()
        finally:
            stranger.send_signal(signal.SIGTERM)
    assert _count(own_postgres.url) == 1


def test_postgres_replaces_one_left_by_a_crashed_parent(tmp_path: Path) -> None:
    code = (
        "import os, sys; from pathlib import Path; from firegrid.embedded import start_postgres;"
        "start_postgres(Path(sys.argv[1])); os._exit(0)"  # skips atexit: a crash
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "pg")], check=True, timeout=120)
    server = start_postgres(tmp_path / "pg")
    try:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
