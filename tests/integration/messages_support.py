"""Helpers for the dispatch message tests: case events on the log, a terminal's inbox."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dispatch.deliveries import get_delivery
from infra.eventlog import append
from infra.mqtt import client_for_url
from tests.fix_api import free_port

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


SECRET = "whsec_" + "c2VjcmV0LW9mLXRoZS1jaXR5LXBsYXRmb3JtLTAx"  # base64 of 30 bytes


class Receiver:
    """The city platform: records each POST; answers ``failing`` ids with 500, others 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.failing: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                heads = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append((heads, body))
                    status = 500 if heads.get("webhook-id") in receiver.failing else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status == 500 else b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, event_id: int) -> list[tuple[dict[str, str], bytes]]:
        """Return the requests that carried ``event_id``."""
        with self._lock:
            return [r for r in self.requests if r[0].get("webhook-id") == str(event_id)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def case_delivery(db_url: str, event_id: int) -> Any:
    """Return the webhook delivery of ``event_id`` (None: none)."""
    with psycopg.connect(db_url) as conn:
        return get_delivery(conn, event_id=event_id)


def new_case_event(db_url: str) -> int:
    """Append a case.created event with one notify entry with and one without a terminal."""
    case_id = f"C-20261207-{uuid.uuid4().hex[:6]}"
    notify = [entry("W-1", "T-1"), entry("W-2", None, "escalation")]
    return append_event(db_url, "case.created", case_id, case_event(case_id, notify))
