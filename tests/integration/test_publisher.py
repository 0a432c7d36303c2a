"""The outbound publisher against a real Mosquitto that goes away and comes back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firegrid.embedded import start_broker
from firegrid.embedded.broker import EmbeddedBroker
from infra.mqtt import client_for_url, unique_client_id
from infra.publisher import MqttPublisher, PublisherSettings, QueueFullError, inbox_topic
from tests.fix_ingest import wait_until


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    handle = start_broker(tmp_path / "broker")
    try:
        yield handle
    finally:
        handle.stop()


class Inbox:
    """A terminal's persistent QoS 1 session on its inbox: what it received, in order."""

    def __init__(self, url: str, topic: str) -> None:
        self.received: list[bytes] = []
        self.subscribed = threading.Event()
        self.client, host, port = client_for_url(url, client_id=f"term-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect_async(host, port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the inbox could not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.received.append(bytes(msg.payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets(sockpair_only=True)


@pytest.fixture
def inbox(own_broker: EmbeddedBroker) -> Iterator[Inbox]:
    box = Inbox(own_broker.url, inbox_topic("fg/v1", "+"))
    try:
        yield box
    finally:
        box.close()


def _publisher(url: str, **settings: Any) -> MqttPublisher:
    publisher = MqttPublisher(url, settings=PublisherSettings(reconnect_max_s=1, **settings))
    publisher.start()
    assert publisher.connected.wait(10), "the publisher could not connect"
    return publisher


def test_client_id_is_the_base_plus_host_and_pid() -> None:
    import os
    import socket

    assert unique_client_id("fg-pub") == f"fg-pub-{socket.gethostname()}-{os.getpid()}"
    assert MqttPublisher("mqtt://127.0.0.1:1").client_id.startswith("firegrid-publisher-")


def test_published_while_the_broker_was_away_is_delivered_after_it_returns(
    own_broker: EmbeddedBroker, inbox: Inbox
) -> None:
    publisher = _publisher(own_broker.url)
    try:
        topic = inbox_topic("fg/v1", "T-1")
        publisher.publish(topic, b"before").wait_for_publish(5)
        wait_until(lambda: inbox.received == [b"before"], timeout_s=10, what="the first message")
        assert publisher.health().state == "running"

        own_broker.stop()
        wait_until(lambda: not publisher.connected.is_set(), timeout_s=10, what="disconnect")
        publisher.publish(topic, b"while away")
        health = publisher.health()
        assert health.state == "degraded"
        assert "1 unacknowledged" in health.detail

        own_broker.start()
        wait_until(
            lambda: inbox.received == [b"before", b"while away"],
            timeout_s=30,
            what="the message published while the broker was away",
        )
        wait_until(lambda: publisher.pending() == 0, timeout_s=10, what="its PUBACK")
        assert publisher.health().state == "running"
        assert publisher.lag_s() == 0.0
    finally:
        publisher.stop()
    assert publisher.health().state == "stopped"


def test_the_queue_bound_holds_while_the_broker_is_away(
    own_broker: EmbeddedBroker, inbox: Inbox
) -> None:
    publisher = _publisher(own_broker.url, max_queued=5)
    try:
        own_broker.stop()
        wait_until(lambda: not publisher.connected.is_set(), timeout_s=10, what="disconnect")
        topic = inbox_topic("fg/v1", "T-2")
        for n in range(5):
            publisher.publish(topic, f"m{n}".encode())
        with pytest.raises(QueueFullError):
            publisher.publish(topic, b"one too many")
        assert publisher.pending() == 5
        assert publisher.health().lag_s is not None

        own_broker.start()
        expected = [f"m{n}".encode() for n in range(5)]
        wait_until(lambda: inbox.received == expected, timeout_s=30, what="the 5 queued messages")
        wait_until(lambda: publisher.pending() == 0, timeout_s=10, what="their PUBACKs")
        publisher.publish(topic, b"room again").wait_for_publish(5)
        wait_until(lambda: inbox.received[-1:] == [b"room again"], timeout_s=10, what="delivery")
    finally:
        publisher.stop()
