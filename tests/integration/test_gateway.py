"""The GB/T 26875.3 gateway over real TCP into the real database, through ingest's path."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from devices.codecs.gb26875_frame import PART_STATUS, PartStatus, parse_frame
from gateway.config import GatewaySettings
from gateway.models import ReceivedFrame
from gateway.replies import DENY
from gateway.service import FrameStore
from ingest.config import IngestSettings, StorageSettings
from ingest.flows import BatchWriter
from ingest.rejected_replay import ReplayOutcome, replay_rejected
from simulators.transmission import FIRE, Delivery, TransmissionDevice
from tests.fix_ingest import wait_until
from tests.integration.gateway_support import GatewayHarness, gateways

__all__ = ["gateways"]  # fixture, used by name

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
SMOKE_SEQ_ZONE_3_POS_7 = 1 << 40 | 1 << 32 | 3 << 16 | 7


def device(gw: GatewayHarness, address: int, **kw: float) -> TransmissionDevice:
    port = gw.roles[-1].gateway.port
    assert port is not None
    return TransmissionDevice("127.0.0.1", port, address=address, **kw)  # type: ignore[arg-type]


def test_a_fire_alarm_is_stored_then_confirmed_and_a_resend_is_stored_once(
    gateways: GatewayHarness,
) -> None:
    address, dev = gateways.address(), f"UITD-{gateways.tag}"
    gateways.register(dev, address)
    gateways.start()
    with device(gateways, address) as unit:
        sent = unit.fire_alarm(3, 7, at=NOW)
        assert sent.confirmed
        assert sent.attempts == 1
        assert sent.latency_s is not None
        assert sent.latency_s < unit.resend_after_s
        # The confirm came after the commit: the event is there the moment it is confirmed.
        assert gateways.events(dev) == [("smoke_alarm", SMOKE_SEQ_ZONE_3_POS_7)]
        again = unit.deliver(sent.serial, sent.frame)  # as after a lost confirm
        assert again.confirmed
        analog = unit.pressure(5, 1, 320.0, at=NOW)
        power = unit.power_failure(at=NOW)
        assert analog.confirmed
        assert power.confirmed
        confirm = unit.answers[0]
        assert (confirm.serial, confirm.source, confirm.destination) == (
            sent.serial,
            unit.centre,
            address,
        )
    assert gateways.events(dev) == [
        ("smoke_alarm", SMOKE_SEQ_ZONE_3_POS_7),
        ("fault", 0xFFFF << 32),  # the device's own power failure
    ]
    readings = gateways.rows("SELECT metric, value FROM readings WHERE device_id = %s", dev)
    assert readings == [("pressure_mpa", 0.32)]
    assert gateways.rejected() == []


def test_an_unknown_address_is_rejected_confirmed_and_replayed_once_registered(
    gateways: GatewayHarness,
) -> None:
    address, dev = gateways.address(), f"LATE-{gateways.tag}"
    gateways.start()
    with device(gateways, address) as unit:
        sent = unit.fire_alarm(3, 7, at=NOW)
    assert sent.confirmed  # answered, so the device does not resend forever
    ((topic, reason, payload),) = gateways.rejected()
    assert (topic, reason, payload) == (
        f"{gateways.prefix}/gw/gb26875/{address}",
        "unknown_device",
        sent.frame,
    )
    assert _replay(gateways).still_unknown == 1  # not registered yet: left pending
    gateways.register(dev, address)
    outcome = _replay(gateways)
    assert (outcome.messages, outcome.events, outcome.still_unknown) == (1, 1, 0)
    assert gateways.events(dev) == [("smoke_alarm", SMOKE_SEQ_ZONE_3_POS_7)]
    assert _replay(gateways).messages == 0  # marked replayed


def test_a_bad_checksum_is_denied_and_kept(gateways: GatewayHarness) -> None:
    address = gateways.address()
    gateways.start()
    with device(gateways, address) as unit:
        serial, good = unit.frame(PART_STATUS, [PartStatus(1, 1, 40, 3, 7, FIRE, "x", NOW)])
    bad = good[:-3] + bytes(((good[-3] + 1) % 256,)) + good[-2:]
    port = gateways.roles[-1].gateway.port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"noise" + bad[:10])  # garbage first, and the frame split across reads
        sock.sendall(bad[10:])
        answer = parse_frame(_recv_exactly(sock, 30))
    assert (answer.command, answer.serial, answer.destination) == (DENY, serial, address)
    assert gateways.rejected() == [(f"{gateways.prefix}/gw/gb26875/{address}", "bad_checksum", bad)]


def test_a_gateway_killed_before_the_confirm_makes_the_device_resend_and_stores_once(
    gateways: GatewayHarness,
) -> None:
    address, dev = gateways.address(), f"KILL-{gateways.tag}"
    gateways.register(dev, address)
    writer = BatchWriter(
        db_url=gateways.db_url,
        settings=IngestSettings(topic_prefix=gateways.prefix),
        storage=StorageSettings(),
    )
    crashed = threading.Event()

    def commit_then_die(batch: Sequence[ReceivedFrame]) -> None:
        # The worst moment: the alarm is committed, the confirm not yet sent.
        FrameStore(writer, prefix=gateways.prefix).store(batch)
        crashed.set()
        raise RuntimeError("killed between the commit and the confirm")

    first = gateways.start(before_store=commit_then_die)
    port = first.gateway.port
    assert port is not None
    unit = TransmissionDevice(
        "127.0.0.1", port, address=address, resend_after_s=3.0, reconnect_wait_s=0.5
    )
    delivered: list[Delivery] = []
    sender = threading.Thread(target=lambda: delivered.append(unit.fire_alarm(3, 7, at=NOW)))
    sender.start()
    try:
        assert crashed.wait(10), "the gateway never stored the alarm"
        wait_until(lambda: first.health().state == "failed", timeout_s=10, what="gateway down")
        gateways.start(port=port)  # what the supervisor does: a fresh gateway on the same port
        sender.join(30)
    finally:
        unit.close()
        writer.close()
    (sent,) = delivered
    assert sent.confirmed
    assert sent.attempts >= 2
    assert gateways.events(dev) == [("smoke_alarm", SMOKE_SEQ_ZONE_3_POS_7)]


def _replay(gw: GatewayHarness) -> ReplayOutcome:
    writer = BatchWriter(
        db_url=gw.db_url, settings=IngestSettings(topic_prefix=gw.prefix), storage=StorageSettings()
    )
    try:
        with psycopg.connect(gw.db_url, autocommit=True) as conn:
            return replay_rejected(conn, writer, prefix=gw.prefix)
    finally:
        writer.close()


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_connections_beyond_the_bound_are_closed_and_a_silent_one_times_out(
    gateways: GatewayHarness,
) -> None:
    role = gateways.start(settings=GatewaySettings(max_connections=1, idle_timeout_s=0.5))
    port = role.gateway.port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5) as first:
        wait_until(lambda: len(role.gateway.connections) == 1, what="the first connection")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as second:
            assert second.recv(1) == b""  # closed at once: one connection is the bound
        first.settimeout(5)
        assert first.recv(1) == b""  # silent past the idle timeout: closed
    wait_until(lambda: not role.gateway.connections, what="no connection left")
