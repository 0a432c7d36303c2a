"""Helpers for the dispatch message tests: case events on the log, a terminal's inbox."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from infra.eventlog import append
from infra.mqtt import client_for_url

PLACE = ("31011500500300", "310115005003", "310115005")


def case_event(
    case_id: str, notify: list[dict[str, Any]], *, kind: str = "case.created", seq: int = 1
) -> dict[str, Any]:
    """Return a case event's payload as dispatch-design.md describes it."""
    return {
        "case": {
            "id": case_id,
            "hazard_ids": [7],
            "report_ids": [],
            "category": "fire",
            "urgency": "urgent",
            "status": "dispatched",
            "grid_code": PLACE[0],
            "community_code": PLACE[1],
            "street_code": PLACE[2],
            "unit_id": "U-0012",
            "lat": 31.248,
            "lon": 121.587,
            "assignee": "W-0012",
            "escalation_level": 0,
            "stage": "sign",
            "deadline": "2026-12-07T10:15:00Z",
            "created_at": "2026-12-07T10:00:00Z",
            "closed_at": None,
        },
        "step": {"seq": seq, "action": "dispatch", "actor": "system", "at": "2026-12-07T10:00:00Z"},
        "notify": notify,
    }


def entry(
    staff: str, terminal: str | None, kind: str = "case_assigned", **more: Any
) -> dict[str, Any]:
    """Return one notify entry."""
    return {
        "staff_id": staff,
        "terminal_id": terminal,
        "kind": kind,
        "asks": "sign",
        "due": "2026-12-07T10:15:00Z",
        "text": f"请签收 {staff}",
        **more,
    }


def append_event(db_url: str, kind: str, subject: str, payload: dict[str, Any]) -> int:
    """Append one event in a transaction of its own; return its id."""
    with psycopg.connect(db_url) as conn:
        return append(conn, kind=kind, subject=subject, payload=payload, place=PLACE)


class Terminal:
    """Terminals' persistent QoS 1 session on ``{prefix}/t/+/inbox``: (topic, payload) in order."""

    def __init__(self, url: str, prefix: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        topic = f"{prefix}/t/+/inbox"
        self.client, host, port = client_for_url(url, client_id=f"term-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect_async(host, port, clean_start=False, properties=props)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("the terminal could not subscribe to its inbox")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def messages(self) -> list[tuple[str, dict[str, Any]]]:
        """Return what arrived so far, decoded."""
        with self._lock:
            return [(t, json.loads(p)) for t, p in self.received]

    def raw(self) -> list[tuple[str, bytes]]:
        """Return what arrived so far, as bytes."""
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets(sockpair_only=True)
