"""Mosquitto's dynamic-security plugin, administered over MQTT (``$CONTROL/dynamic-security/v1``).

Commands go as one JSON message ``{"commands": [...]}``; the plugin answers each, in order, on
``.../response`` with an ``error`` field when it refused one. This client sends one request at a
time and waits for its answer, matched by ``correlationData``, so a refusal is raised to the
caller that asked and nothing is left unchecked.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from infra.mqtt import client_for_url, unique_client_id

__all__ = ["ALREADY_EXISTS", "NOT_FOUND", "DynsecAdmin", "DynsecClient", "DynsecError"]

CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = f"{CONTROL_TOPIC}/response"
# The plugin's own words for the refusals an idempotent caller tolerates (Mosquitto 2.0).
ALREADY_EXISTS: Final = "already exists"
NOT_FOUND: Final = "not found"

Command = Mapping[str, Any]


class DynsecError(RuntimeError):
    """The broker refused a dynamic-security command, or could not be asked."""

    def __init__(self, command: str, error: str) -> None:
        self.command = command
        self.error = error
        super().__init__(f"dynamic security {command}: {error}")


@dataclass(frozen=True)
class DynsecAdmin:
    """Where the plugin is administered: the broker's URL and an admin client's credential."""

    url: str  # mqtt(s)://host:port; a user part in it is replaced by the admin's
    username: str
    password: str

    def __repr__(self) -> str:  # never the password (CONTRACT §5: secrets never in logs)
        return f"DynsecAdmin(username={self.username!r})"


class DynsecClient:
    """A connected admin session; ``send`` runs commands and returns their answers."""

    def __init__(self, admin: DynsecAdmin, *, timeout_s: float = 10.0) -> None:
        self._timeout_s = timeout_s
        self._client, self._host, self._port = client_for_url(
            admin.url, client_id=unique_client_id("firegrid-dynsec")
        )
        self._client.username_pw_set(admin.username, admin.password)
        self._ready = threading.Event()
        self._refused: str | None = None
        self._answer = threading.Event()
        self._waiting_for = ""
        self._responses: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # one request in flight: answers match by correlation
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def __enter__(self) -> Self:
        """Connect and subscribe to the plugin's answers; raise ``DynsecError`` if refused."""
        try:
            # Longer than the slowest answer (a command costs the broker more the more clients
            # it holds): a PINGRESP the broker owes while busy must not end the session.
            self._client.connect(
                self._host, self._port, keepalive=max(60, int(2 * self._timeout_s))
            )
        except OSError as exc:
            raise DynsecError("connect", f"broker unreachable: {exc}") from exc
        self._client.loop_start()
        if not self._ready.wait(self._timeout_s) or self._refused is not None:
            self.close()
            raise DynsecError("connect", self._refused or "no answer from the broker")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Disconnect."""
        self.close()

    def close(self) -> None:
        """Disconnect and stop paho's network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def send(
        self, commands: Sequence[Command], *, tolerate: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Run ``commands`` in order; raise on the first refusal not naming a ``tolerate`` text.

        Returns each command's answer (``error`` present when refused and tolerated).
        """
        if not commands:
            return []
        correlation = uuid.uuid4().hex
        tagged = [{**c, "correlationData": f"{correlation}-{i}"} for i, c in enumerate(commands)]
        with self._lock:
            self._answer.clear()
            self._waiting_for = f"{correlation}-0"
            info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS or not self._answer.wait(self._timeout_s):
                raise DynsecError(str(commands[0].get("command")), "no answer from the broker")
            responses = self._responses
        for response in responses:
            error = response.get("error")
            if error and not any(text in str(error).lower() for text in tolerate):
                raise DynsecError(str(response.get("command")), str(error))
        return responses

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self._refused = f"the broker refused the admin client: {reason}"
            self._ready.set()
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: object, _mid: int, reasons: list[ReasonCode],
        _props: object,
    ) -> None:  # fmt: skip
        if any(r.is_failure for r in reasons):
            self._refused = f"the broker refused the admin's subscription: {reasons[0]}"
        self._ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return  # not an answer to anything we asked
        if (
            isinstance(responses, list)
            and responses
            and isinstance(responses[0], dict)
            and responses[0].get("correlationData") == self._waiting_for
        ):
            self._responses = responses
            self._answer.set()
