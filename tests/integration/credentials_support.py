"""An MQTT 5 client for the credential tests: what the broker answered, reason code by code."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from infra.mqtt import client_for_url

NOT_AUTHORIZED = 0x87
# CONNACK reasons of a refused CONNECT: bad user name or password, not authorized.
REFUSED = frozenset({0x86, 0x87})
# PUBACK reasons of an accepted PUBLISH: success, or "no matching subscribers" (MQTT 5 0x10).
DELIVERED = frozenset({0x00, 0x10})


@dataclass
class Answers:
    """What the broker said to one client."""

    connack: ReasonCode | None = None
    disconnect: ReasonCode | None = None
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    subacks: dict[int, ReasonCode] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)


class Probe:
    """A client connecting with a URL's credential (none: anonymous) and recording every answer."""

    def __init__(self, url: str, *, client_id: str) -> None:
        self.client, self._host, self._port = client_for_url(url, client_id=client_id)
        self.answers = Answers()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def __enter__(self) -> Self:
        """Connect (without reconnecting) and wait for the CONNACK or the refusal."""
        self.client.reconnect_delay_set(60, 120)  # a refused client must not retry in the test
        self.client.connect(self._host, self._port, keepalive=30)
        self.client.loop_start()
        self.answers.connected.wait(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def accepted(self) -> bool:
        """Say whether the broker accepted the CONNECT."""
        return self.answers.connack is not None and not self.answers.connack.is_failure

    @property
    def refused(self) -> bool:
        """Say whether the broker answered the CONNECT with a refusal (not a mere timeout)."""
        reason = self.answers.connack
        return reason is not None and int(reason.value) in REFUSED

    def publish(self, topic: str, payload: bytes, *, timeout_s: float = 10.0) -> int:
        """Publish QoS 1 and return the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self.answers.changed:
            self.answers.changed.wait_for(lambda: info.mid in self.answers.pubacks, timeout_s)
        assert info.mid in self.answers.pubacks, f"no PUBACK for {topic}"
        return int(self.answers.pubacks[info.mid].value)

    def subscribe(self, topic: str, *, timeout_s: float = 10.0) -> int:
        """Subscribe QoS 1 and return the SUBACK's reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        with self.answers.changed:
            self.answers.changed.wait_for(lambda: mid in self.answers.subacks, timeout_s)
        assert mid in self.answers.subacks, f"no SUBACK for {topic}"
        return int(self.answers.subacks[mid].value)

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.answers.connack = reason
        self.answers.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.answers.disconnect = reason
        self.answers.disconnected.set()
        self.answers.connected.set()  # a refused CONNECT ends here without an on_connect

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object
    ) -> None:
        with self.answers.changed:
            self.answers.pubacks[mid] = reason
            self.answers.changed.notify_all()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        with self.answers.changed:
            self.answers.subacks[mid] = reasons[0]
            self.answers.changed.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.answers.changed:
            self.answers.messages.append((msg.topic, bytes(msg.payload)))
            self.answers.changed.notify_all()
