"""Outbound MQTT: one QoS 1 publisher per process, for the terminals' inbox and what follows.

Its own client ID (a configured base plus host and process id, so processes never kick each
other off the broker), a persistent session (clean start off, a session expiry), QoS 1, and a
bounded queue: messages the broker has not acknowledged yet, kept across reconnects and resent
by paho's network thread when the broker is back. When the queue is full ``publish`` raises
``QueueFullError`` instead of growing: the caller (dispatch, from its event log) keeps the
message and tries again. The queue is in memory: durability across a process restart is the
event log's job, not this module's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel, Field

from infra.mqtt import client_for_url, unique_client_id
from infra.roles import RoleHealth

__all__ = [
    "MqttPublisher",
    "PublishError",
    "PublisherSettings",
    "QueueFullError",
    "inbox_topic",
]

log = logging.getLogger(__name__)


class PublisherSettings(BaseModel):
    """The outbound MQTT session."""

    client_id: str = Field(
        default="firegrid-publisher", description="base; host and process id are appended"
    )
    session_expiry: timedelta = timedelta(hours=1)
    max_queued: int = Field(default=10_000, ge=1, description="messages not yet acknowledged")
    max_inflight: int = Field(default=100, ge=1, description="sent, awaiting PUBACK")
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_max_s: int = Field(default=10, ge=1)


class PublishError(Exception):
    """A message could not be handed to the publisher."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"cannot publish to {topic}: {reason}")
        self.topic = topic
        self.reason = reason


class QueueFullError(PublishError):
    """The queue holds ``max_queued`` unacknowledged messages; try again later."""


def inbox_topic(prefix: str, terminal_id: str) -> str:
    """Return a terminal's inbox topic (CONTRACT §1: ``fg/v1/t/{terminal_id}/inbox``)."""
    return f"{prefix}/t/{terminal_id}/inbox"


class MqttPublisher:
    """A role: a paho client publishing QoS 1 with a persistent session and a bounded queue."""

    name = "publisher"

    def __init__(
        self,
        url: str,
        *,
        settings: PublisherSettings | None = None,
        client_id: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or PublisherSettings()
        self.client_id = client_id or unique_client_id(self.settings.client_id)
        self._client, self._host, self._port = client_for_url(url, client_id=self.client_id)
        self._client.max_queued_messages_set(self.settings.max_queued)
        self._client.max_inflight_messages_set(self.settings.max_inflight)
        self._client.reconnect_delay_set(min_delay=1, max_delay=self.settings.reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._monotonic = monotonic
        self.connected = threading.Event()
        self._ever_connected = False
        self._refused = ""
        self._stopped = False
        # (message, when published) in publish order, pruned from the left once acknowledged:
        # the first unacknowledged one gives the lag. Never held while paho calls back.
        self._lock = threading.Lock()
        self._unacked: deque[tuple[mqtt.MQTTMessageInfo, float]] = deque()

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until ``stop``."""
        # paho's Properties.__init__ has no annotations, so strict mypy flags the call.
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = int(self.settings.session_expiry.total_seconds())
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Wait up to ``timeout_s`` for the queue to drain, then disconnect."""
        deadline = self._monotonic() + timeout_s
        while self.pending() and self.connected.is_set() and self._monotonic() < deadline:
            time.sleep(0.02)
        left = self.pending()
        if left:
            log.warning("publisher stopping with %d messages unacknowledged", left)
        self._stopped = True
        self._client.disconnect()
        self._client.loop_stop()
        # loop_stop leaves loop_start's socket pair to the garbage collector (paho-mqtt 2.x).
        self._client._reset_sockets(sockpair_only=True)

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Queue ``payload`` for ``topic`` at QoS 1; raise ``QueueFullError`` when full."""
        if self._stopped:
            raise PublishError(topic, "the publisher is stopped")
        with self._lock:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                raise QueueFullError(topic, f"{self.settings.max_queued} messages queued")
            # MQTT_ERR_NO_CONN: queued all the same; paho sends it once the broker is back.
            if info.rc not in {mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN}:
                raise PublishError(topic, mqtt.error_string(info.rc))
            self._unacked.append((info, self._monotonic()))
            self._prune()
        return info

    def wait_acked(self, infos: Sequence[mqtt.MQTTMessageInfo], timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for the broker's PUBACK of each of ``infos``; return how many
        are still unacknowledged (0: all of them arrived).

        Unlike paho's ``wait_for_publish`` it also waits for messages published while the
        broker was away, which paho resends once it is back.
        """
        deadline = self._monotonic() + timeout_s
        while True:
            left = sum(1 for info in infos if not _acked(info))
            if not left or self._monotonic() >= deadline or self._stopped:
                return left
            time.sleep(0.002)  # the PUBACK of a local broker takes about a millisecond

    def pending(self) -> int:
        """Return how many messages the broker has not acknowledged yet."""
        with self._lock:
            self._prune()
            return sum(1 for info, _ in self._unacked if not _acked(info))

    def lag_s(self) -> float:
        """Return the age of the oldest message the broker has not acknowledged (0: none)."""
        with self._lock:
            self._prune()
            if not self._unacked:
                return 0.0
            return max(0.0, self._monotonic() - self._unacked[0][1])

    def health(self) -> RoleHealth:
        """Return running while connected; degraded while the broker is away (it reconnects)."""
        lag = self.lag_s()
        detail = f"{self.pending()} unacknowledged"
        if self._stopped:
            return RoleHealth("stopped", None, detail)
        thread = getattr(self._client, "_thread", None)  # paho's network thread (loop_start)
        if isinstance(thread, threading.Thread) and not thread.is_alive():
            return RoleHealth("failed", lag, "paho's network thread ended")
        if self.connected.is_set():
            return RoleHealth("running", lag, detail)
        why = self._refused or "broker away, reconnecting"
        return RoleHealth(
            "degraded" if self._ever_connected else "starting", lag, f"{why}; {detail}"
        )

    def _prune(self) -> None:
        while self._unacked and _acked(self._unacked[0][0]):
            self._unacked.popleft()

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._refused = f"broker refused the connection: {reason}"
            log.error("publisher: %s", self._refused)
            return
        self._refused = ""
        self._ever_connected = True
        self.connected.set()
        log.info(
            "publisher %s connected to mqtt://%s:%s (session present: %s)",
            self.client_id,
            self._host,
            self._port,
            getattr(flags, "session_present", None),
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        if reason.value != 0 and not self._stopped:
            log.warning("publisher lost the broker (%s); reconnecting", reason)


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    # is_published() raises for a message queued while disconnected (its rc stays NO_CONN even
    # after paho resent it); the flag it reads is set when the PUBACK arrives (paho-mqtt 2.x).
    return bool(info._published)
