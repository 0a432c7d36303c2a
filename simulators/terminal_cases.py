"""A grid worker's terminal answering its case inbox: signs, gives feedback, verifies on site.

The terminal keeps a persistent MQTT session (clean start off, a session expiry) subscribed at
QoS 1 to ``{prefix}/t/{terminal_id}/inbox``, so the broker holds what arrives while it is away,
and drops a message whose ``message_id`` it has seen (CONTRACT-EXTENSIONS "Inbox": a repeat is
possible, a loss is not). What it answers is the pure function ``respond``; the session only
publishes it. A behaviour per terminal: ``prompt`` acts at once, ``slow`` after a delay,
``forgetful`` never signs (escalation scenarios: the case must climb the ladder by itself).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simulators.models import SimMessage
from simulators.sensors import PREFIX
from simulators.terminal import make_photo

__all__ = ["Behaviour", "CaseTerminal", "respond"]

log = logging.getLogger(__name__)

FEEDBACK_NOTE = "已到现场处置，隐患已清除"
VERIFY_NOTE = "现场核查，整改属实"


class Behaviour(StrEnum):
    """How a simulated worker answers what the inbox asks."""

    PROMPT = "prompt"  # at once
    SLOW = "slow"  # after ``CaseTerminal.delay_s``
    FORGETFUL = "forgetful"  # never signs: the case escalates


def _ts(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _position(case: Mapping[str, Any]) -> tuple[float, float] | None:
    lat, lon = case.get("lat"), case.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        return float(lat), float(lon)
    return None


def respond(
    message: Mapping[str, Any],
    *,
    terminal_id: str,
    behaviour: Behaviour,
    now: datetime,
    seed: int,
    prefix: str = PREFIX,
) -> list[SimMessage]:
    """Return what the terminal publishes for one inbox message, in order (photos first).

    ``asks: sign`` → sign, then feedback with a photo taken at the case's position (the worker
    handles it on the spot); ``asks: feedback`` (rework) → feedback with a photo; ``asks:
    verify`` → verify with a photo and the case's position. Anything else is information.
    """
    asks, case_id = message.get("asks"), message.get("case_id")
    case = message.get("case") or {}
    if not isinstance(case_id, str) or not isinstance(case, Mapping):
        return []
    if asks == "sign" and behaviour is Behaviour.FORGETFUL:
        return []
    where = _position(case)
    # Action ids derive from the message and seed, so one message answered twice (a replay of
    # the same scenario) is one action to FireGrid.
    base = uuid.uuid5(uuid.NAMESPACE_URL, f"{terminal_id}:{message.get('message_id')}:{seed}")
    out: list[SimMessage] = []

    def action(name: str, *, note: str = "", photo: bool = False) -> None:
        body: dict[str, Any] = {
            "action_id": str(uuid.uuid5(base, name)),
            "case_id": case_id,
            "action": name,
            "ts": _ts(now),
            "note": note,
            "photos": [],
        }
        if photo:
            raw = make_photo(
                seed=uuid.uuid5(base, f"{name}/photo").int % 2**31, taken_at=now, gps=where
            )
            sha = hashlib.sha256(raw).hexdigest()
            out.append(
                SimMessage(
                    f"{prefix}/t/{terminal_id}/photo/{sha}",
                    raw,
                    label="photo",
                    expected_photos=[sha],
                )
            )
            body["photos"] = [sha]
        if where is not None and name != "sign":
            body["position"] = {"lat": where[0], "lon": where[1]}
        out.append(
            SimMessage(
                f"{prefix}/t/{terminal_id}/case",
                json.dumps(body, ensure_ascii=False).encode(),
                label=f"case {name}",
            )
        )

    if asks == "sign":
        action("sign", note="已签收")
        action("feedback", note=FEEDBACK_NOTE, photo=True)
    elif asks == "feedback":
        action("feedback", note=FEEDBACK_NOTE, photo=True)
    elif asks == "verify":
        action("verify", note=VERIFY_NOTE, photo=True)
    return out


@dataclass
class _Sent:
    message_id: str
    messages: list[SimMessage]


class CaseTerminal:
    """One worker's terminal on the broker: reads its inbox, answers as ``behaviour`` says.

    Answers are published from a worker thread of their own: waiting for a PUBACK inside
    paho's message callback would block the very loop that delivers it.
    """

    def __init__(
        self,
        url: str,
        terminal_id: str,
        *,
        prefix: str = PREFIX,
        behaviour: Behaviour = Behaviour.PROMPT,
        delay_s: float = 30.0,
        seed: int = 1,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        session_expiry_s: int = 3600,
    ) -> None:
        self.terminal_id = terminal_id
        self.prefix = prefix
        self.behaviour = behaviour
        self.delay_s = delay_s
        self.seed = seed
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.sent: list[_Sent] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._todo: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        parts = urlsplit(url)
        # One stable client id per terminal: the persistent session is found again by it.
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"fg-sim-{terminal_id}", protocol=mqtt.MQTTv5
        )
        if parts.username:
            self._client.username_pw_set(
                unquote(parts.username), unquote(parts.password) if parts.password else None
            )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self.subscribed.set()
        self._client.on_message = self._on_message
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 1883
        self._expiry = session_expiry_s
        self._worker = threading.Thread(
            target=self._work, name=f"sim-terminal-{terminal_id}", daemon=True
        )

    @property
    def inbox_topic(self) -> str:
        """Return the topic the service publishes this terminal's messages on."""
        return f"{self.prefix}/t/{self.terminal_id}/inbox"

    def start(self, *, timeout_s: float = 10.0) -> CaseTerminal:
        """Connect, subscribe to the inbox and start answering; return self."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._expiry
        self._client.connect_async(self._host, self._port, clean_start=False, properties=props)
        self._client.loop_start()
        self._worker.start()
        if not self.subscribed.wait(timeout_s):
            self.close()
            raise ConnectionError(f"terminal {self.terminal_id} could not subscribe")
        return self

    def _on_connect(self, client: mqtt.Client, *_a: Any) -> None:
        client.subscribe(self.inbox_topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return  # not a contract message: a real terminal ignores it too
        if not isinstance(body, dict):
            return
        with self._lock:
            mid = str(body.get("message_id"))
            if mid in self._seen:
                return
            self._seen.add(mid)
            self.received.append(body)
        self._todo.put(body)

    def _work(self) -> None:
        while True:
            body = self._todo.get()
            if body is None:
                return
            if self.behaviour is Behaviour.SLOW and self._stop.wait(self.delay_s):
                return
            answers = respond(
                body,
                terminal_id=self.terminal_id,
                behaviour=self.behaviour,
                now=self.clock(),
                seed=self.seed,
                prefix=self.prefix,
            )
            try:
                for m in answers:
                    # Each PUBACK before the next publish: ingest then has a photo no later
                    # than the action that names it.
                    self._client.publish(m.topic, m.payload, qos=1).wait_for_publish(10.0)
            except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
                # A real worker whose phone lost the network tries the next message; the
                # case's reminders and escalation take care of what was lost.
                log.warning("terminal %s could not answer: %s", self.terminal_id, exc)
                continue
            with self._lock:
                self.sent.append(_Sent(str(body.get("message_id")), answers))

    def messages(self) -> list[dict[str, Any]]:
        """Return the inbox messages received so far (each id once), in order."""
        with self._lock:
            return list(self.received)

    def actions(self) -> list[dict[str, Any]]:
        """Return the case actions published so far, decoded, in order."""
        with self._lock:
            return [
                json.loads(m.payload)
                for s in self.sent
                for m in s.messages
                if m.topic.endswith("/case")
            ]

    def close(self) -> None:
        """Stop answering and disconnect (the broker keeps the session for its expiry)."""
        self._stop.set()
        self._todo.put(None)
        if self._worker.is_alive():
            self._worker.join(5)
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets(sockpair_only=True)  # paho-mqtt 2.x, as simulators.publish

    def __enter__(self) -> CaseTerminal:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
