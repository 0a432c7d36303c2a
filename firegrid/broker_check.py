"""Start-time check that a broker FireGrid did not configure keeps a burst of queued messages.

Mosquitto's default ``max_queued_messages 1000`` silently drops QoS 1 messages queued for a
persistent session beyond the first thousand (DESIGN.md): ingest would lose a burst that
arrives while it is restarting or behind. The check reproduces that situation with a probe
client on a topic outside FireGrid's prefix, so ingest never sees the probe messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

_DEFAULT_PORTS = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
_QUIET_S = 1.0  # no further message for this long after the queue drained: it is all there
_SESSION_EXPIRY_S = 300  # keeps the probe's session while it is offline, then it goes anyway


@dataclass(frozen=True)
class BrokerCheck:
    """What the broker delivered of the probe messages queued for an offline session."""

    ok: bool
    delivered: int
    sent: int
    message: str


class BrokerCheckError(RuntimeError):
    """The check could not run: the broker is unreachable or refused the probe client."""


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                "broker URL must look like mqtt://[user:pass@]host[:port] or mqtts://…"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            tls=parts.scheme in {"mqtts", "ssl"},
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        # Only host and port: the URL's credentials never reach a message or a log.
        return f"{self.host}:{self.port}"


def _properties(packet_type: int, *, session_expiry_s: int) -> Properties:
    props = Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
    props.SessionExpiryInterval = session_expiry_s
    return props


class _Probe:
    """One paho client with the events the check waits on."""

    def __init__(self, target: _Target, client_id: str) -> None:
        self.target, self.client_id = target, client_id
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if target.tls:
            self.client.tls_set()
        if target.username is not None:
            self.client.username_pw_set(target.username, target.password)
        self.client.max_inflight_messages_set(100)
        self.connected = threading.Event()
        self.connect_reason = ""
        self.session_present = False
        self.subscribed = threading.Event()
        self.granted_qos = -1
        self.received: set[bytes] = set()
        self.last_message_at = 0.0
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.disconnected = threading.Event()
        self.client.on_disconnect = lambda *_args: self.disconnected.set()

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connect_reason = str(reason_code)
        self.session_present = flags.session_present
        if not reason_code.is_failure:
            self.connected.set()

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        self.granted_qos = -1 if reason_codes[0].is_failure else reason_codes[0].value
        self.subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.add(bytes(msg.payload))  # a set: QoS 1 may deliver a message twice
            self.last_message_at = time.monotonic()

    def connect(self, *, clean_start: bool, expiry_s: int, deadline: float) -> None:
        props = _properties(PacketTypes.CONNECT, session_expiry_s=expiry_s)
        self.connected.clear()
        try:
            self.client.connect(
                self.target.host, self.target.port, keepalive=30,
                clean_start=clean_start, properties=props,
            )  # fmt: skip
        except OSError as exc:
            raise BrokerCheckError(f"cannot reach the MQTT broker at {self.target}: {exc}") from exc
        self.client.loop_start()
        if not self.connected.wait(max(0.0, deadline - time.monotonic())):
            self.client.loop_stop()
            reason = self.connect_reason or "no answer"
            raise BrokerCheckError(f"the MQTT broker at {self.target} refused the probe: {reason}")

    def disconnect(self, *, end_session: bool = False) -> None:
        # Expiry 0 on DISCONNECT makes the broker forget the probe's session now.
        props = _properties(PacketTypes.DISCONNECT, session_expiry_s=0) if end_session else None
        self.disconnected.clear()
        self.client.disconnect(properties=props)
        # Stopping the loop before it has sent DISCONNECT would leave the socket open.
        self.disconnected.wait(5)
        self.client.loop_stop()


def check_queue_limit(
    url: str,
    *,
    probe_messages: int = 1500,
    timeout_s: float = 10,
    topic_root: str = "firegrid/probe",
) -> BrokerCheck:
    """Check that the broker keeps ``probe_messages`` QoS 1 messages for an offline session."""
    target = _Target.parse(url)
    deadline = time.monotonic() + timeout_s
    token = uuid.uuid4().hex[:12]
    topic = f"{topic_root}/{token}"
    probe = _Probe(target, f"firegrid-probe-{token}")

    probe.connect(clean_start=True, expiry_s=_SESSION_EXPIRY_S, deadline=deadline)
    probe.client.subscribe(topic, qos=1)
    if not probe.subscribed.wait(max(0.0, deadline - time.monotonic())) or probe.granted_qos < 1:
        probe.disconnect(end_session=True)
        return BrokerCheck(
            ok=False, delivered=0, sent=0,
            message=f"the MQTT broker at {target} did not grant a QoS 1 subscription to "
            f"{topic!r}; allow the probe topic {topic_root}/# for FireGrid's client in its ACL",
        )  # fmt: skip
    probe.disconnect()

    sent = _publish(target, token, topic, probe_messages, deadline)

    # A fresh paho client: loop_start() on a reused one leaks its internal socket pair.
    probe = _Probe(target, probe.client_id)
    probe.connect(clean_start=False, expiry_s=_SESSION_EXPIRY_S, deadline=deadline)
    kept_session = probe.session_present
    while time.monotonic() < deadline and len(probe.received) < sent:
        idle = time.monotonic() - (probe.last_message_at or time.monotonic())
        if probe.last_message_at and idle > _QUIET_S:
            break
        time.sleep(0.02)
    delivered = len(probe.received)
    probe.disconnect(end_session=True)
    _forget_session(target, probe.client_id, deadline)
    return _verdict(target, delivered=delivered, sent=sent, kept_session=kept_session)


def _forget_session(target: _Target, client_id: str, deadline: float) -> None:
    """Make sure the broker holds no session for ``client_id`` once the check returns.

    The DISCONNECT that ends the session travels on a socket the broker may not have read yet
    when it is stopped, and Mosquitto then saves the session to its persistence file. A clean
    start is handled before the CONNACK we wait for discards the session at once, and Mosquitto
    never saves a clean-start client.
    """
    cleaner = _Probe(target, client_id)
    cleaner.connect(clean_start=True, expiry_s=0, deadline=max(deadline, time.monotonic() + 2))
    cleaner.disconnect()


def _publish(target: _Target, token: str, topic: str, count: int, deadline: float) -> int:
    """Publish ``count`` QoS 1 messages and return how many the broker acknowledged."""
    publisher = _Probe(target, f"firegrid-probe-pub-{token}")
    publisher.connect(clean_start=True, expiry_s=0, deadline=deadline)
    infos = [publisher.client.publish(topic, str(i).encode(), qos=1) for i in range(count)]
    acked = 0
    for info in infos:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        info.wait_for_publish(remaining)
        acked += info.is_published()
    publisher.disconnect()
    return acked


def _verdict(target: _Target, *, delivered: int, sent: int, kept_session: bool) -> BrokerCheck:
    if sent == 0:
        message = f"the MQTT broker at {target} acknowledged none of the probe's QoS 1 messages"
        return BrokerCheck(ok=False, delivered=delivered, sent=sent, message=message)
    if delivered >= sent:
        message = (
            f"the MQTT broker at {target} delivered all {sent} QoS 1 messages queued for an "
            "offline persistent session"
        )
        return BrokerCheck(ok=True, delivered=delivered, sent=sent, message=message)
    if not kept_session:
        cause = "it did not keep the probe's persistent session while the probe was offline"
    else:
        cause = "it drops queued messages beyond a per-client limit"
    message = (
        f"the MQTT broker at {target} delivered only {delivered} of {sent} QoS 1 messages queued "
        f"for an offline persistent session: {cause}, so FireGrid would lose data in a burst. "
        "Mosquitto: in mosquitto.conf set `max_queued_messages 1000000` and "
        "`max_queued_bytes 0` (default 1000 messages), keep `persistence true`, and raise "
        "`max_inflight_messages` to 10000 (FireGrid's firegrid/mosquitto.conf shows all of "
        "them); EMQX: raise `mqtt.max_mqueue_len`. Then restart the broker."
    )
    return BrokerCheck(ok=False, delivered=delivered, sent=sent, message=message)
