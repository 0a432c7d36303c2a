"""The MQTT side of ingest: a persistent QoS 1 session that acknowledges only when told."""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from infra.clock import SYSTEM_CLOCK, Clock
from infra.mqtt import client_for_url, unique_client_id
from ingest.models import InboundMessage

log = logging.getLogger(__name__)

_PUBACK = 0x40  # MQTT control packet type 4, flags 0


def session_client_id(
    base: str,
    *,
    shared_group: str | None,
    worker: str | None = None,
) -> str:
    """Return this process's MQTT client ID: ``base``, plus the worker's name in a shared group.

    A broker allows one connection per client ID and drops the older one, so processes sharing
    a subscription under one ID would take turns kicking each other off. Alone, the stable base
    ID is what lets a restarted process resume its persistent session and what it missed.

    In a shared group the broker keeps routing an offline member's share of messages to its
    session (Mosquitto 2.0, measured: 50 of 100 with one of two members gone), so only a member
    that comes back under the same ID gets them: a stable ``worker`` name gives that. Without
    one, ``-<host>-<pid>`` keeps members apart, and a restarted member's share waits in its old
    session until ``session_expiry`` (``ingest.role`` warns at start).
    """
    if not shared_group:
        return base
    if worker:
        return f"{base}-{worker}"
    return unique_client_id(base)


class Subscriber:
    """Receives messages into ``sink`` and acknowledges them when ``ack`` is called.

    paho's network thread reconnects by itself; the session is persistent (clean start off,
    a session expiry) so what arrives while we are away or not yet acknowledged is redelivered.

    That thread is the only reader of the socket, so its end is the end of ingest:
    ``network_failure`` says when it has ended without ``stop`` being asked, and why.
    """

    def __init__(
        self,
        *,
        url: str,
        client_id: str,
        filters: Sequence[str],
        receive_maximum: int,
        session_expiry_s: int,
        sink: Callable[[InboundMessage], object],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client_id = client_id
        self._clock = clock
        self._client, self._host, self._port = client_for_url(url, client_id=client_id)
        self._client.manual_ack_set(True)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._filters = list(filters)
        self._receive_maximum = receive_maximum
        self._session_expiry_s = session_expiry_s
        self._sink = sink
        self.generation = 0
        self.connected = threading.Event()
        self._network: threading.Thread | None = None
        self._stopping = False
        self._failure: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting until ``stop``."""
        # paho's Properties.__init__ has no annotations, so strict mypy flags the call.
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self._host, self._port, keepalive=30, clean_start=False, properties=props
        )
        self._client.loop_start()
        # paho clears its own reference when the thread ends; keep ours to see it has ended.
        self._network = self._client._thread

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop the network thread."""
        self._stopping = True
        # With the network thread already gone, paho writes the DISCONNECT itself and closes
        # the socket (the test of an ended loop checks it).
        self._client.disconnect()
        self._client.loop_stop()
        # loop_stop leaves loop_start's socket pair to the garbage collector (paho-mqtt 2.x).
        self._client._reset_sockets(sockpair_only=True)

    def network_failure(self) -> str | None:
        """Say why paho's network thread ended before ``stop``; None while it runs (or stopped)."""
        thread = self._network
        if self._stopping or thread is None or thread.is_alive():
            return None
        return self._failure or "the MQTT network thread ended"

    def ack(self, messages: Sequence[InboundMessage]) -> int:
        """Acknowledge ``messages`` received on the current connection; return how many."""
        generation = self.generation
        mids = [m.mid for m in messages if m.qos == 1 and m.generation == generation]
        if mids:
            self._queue_pubacks(mids)
        return len(mids)

    def _queue_pubacks(self, mids: list[int]) -> None:
        """Queue a PUBACK per packet id and wake paho's network thread once.

        paho's public ``ack()`` writes a wake-up byte to its socket pair for every single
        acknowledgement; at 20,000 messages/s that syscall took half of the writer thread's
        time. The queue entries are exactly what paho-mqtt 2.x's ``_send_command_with_mid``
        builds for a PUBACK (the dependency is pinned below 3 for this reason).
        """
        client = self._client
        out = client._out_packet
        for mid in mids:
            out.append(
                {
                    "command": _PUBACK,
                    "mid": mid,
                    "qos": 1,
                    "pos": 0,
                    "to_process": 4,
                    "packet": struct.pack("!BBH", _PUBACK, 2, mid),
                    "info": None,
                }
            )
        wake = client._sockpairW
        if wake is not None:
            with contextlib.suppress(BlockingIOError):
                wake.send(b"0")

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.generation += 1
        log.info(
            "connected to mqtt://%s:%s (connection %d)", self._host, self._port, self.generation
        )
        client.subscribe([(f, 1) for f in self._filters])
        self.connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        if reason.value != 0:
            log.warning("lost the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # The sink may block while ingest's buffer is full: this network thread then reads
        # nothing more and the broker holds the rest (see ingest.buffer). A stall longer than
        # the broker's keepalive allowance (1.5 x 30 s) ends the connection; QoS 1 messages not
        # yet acknowledged are redelivered to the session when we reconnect.
        # paho types payload bytes | bytearray but decodes it as bytes; bytes() of bytes is free.
        try:
            self._sink(
                InboundMessage(
                    msg.topic,
                    bytes(msg.payload),
                    msg.mid,
                    msg.qos,
                    self.generation,
                    self._clock.now(),
                )
            )
        except BaseException as exc:  # whatever it is, it ends the session
            # paho 2.x re-raises a callback's exception and its thread dies with it (a
            # BaseException gets past paho's own handler anyway): the socket would then go
            # unread while the role looked connected. End the loop cleanly instead, say why
            # (health turns failed and the supervisor replaces the role); the message was not
            # acknowledged, so the broker redelivers it to the next session.
            log.exception("ingest could not take a message; ending the MQTT session")
            self._failure = f"receiving a message: {type(exc).__name__}: {exc}"
            client.disconnect()
