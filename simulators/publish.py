"""Publish simulated messages to a broker with QoS 1 and wait until the broker has them all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from simulators.models import SimMessage


class Publisher:
    """A QoS 1 publisher with a bounded in-flight window (20-100, as DESIGN.md advises)."""

    def __init__(self, url: str, *, client_id: str = "", inflight: int = 100) -> None:
        parts = urlsplit(url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if parts.username:
            self._client.username_pw_set(
                unquote(parts.username), unquote(parts.password) if parts.password else None
            )
        self._client.max_inflight_messages_set(inflight)
        self._client.max_queued_messages_set(0)
        self._connected = threading.Event()
        self._refused: str | None = None
        self._client.on_connect = self._on_connect
        self._client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=30)
        self._client.loop_start()
        # Never the URL itself in the message: it may hold a device's or FireGrid's password.
        where = f"{parts.hostname}:{parts.port or 1883}"
        if not self._connected.wait(10):
            self.close()
            raise ConnectionError(f"could not connect to {where}")
        if self._refused is not None:
            self.close()
            raise ConnectionError(f"the broker at {where} refused the connection: {self._refused}")

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _p: object,
    ) -> None:
        if reason.is_failure:  # a wrong or revoked credential: say so instead of waiting
            self._refused = str(reason)
        self._connected.set()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> mqtt.MQTTMessageInfo:
        """Queue one message for publishing."""
        return self._client.publish(topic, payload, qos=qos)

    def publish_all(
        self, messages: Iterable[SimMessage | tuple[str, bytes]], *, timeout_s: float = 120.0
    ) -> int:
        """Publish every message and wait for all acknowledgements; return the count."""
        infos = []
        for message in messages:
            topic, payload = (
                (message.topic, message.payload) if isinstance(message, SimMessage) else message
            )
            infos.append(self._client.publish(topic, payload, qos=1))
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        return len(infos)

    def close(self) -> None:
        """Disconnect, and close the socket pair paho's loop_start opened (its loop_stop leaves
        it to the garbage collector, which warns about it)."""
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets(sockpair_only=True)  # paho-mqtt 2.x, pinned below 3

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
