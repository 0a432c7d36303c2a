"""MQTT clients from FireGrid's URLs, and client IDs unique to one process.

Two processes connecting with one client ID kick each other off the broker in a loop; every
client FireGrid opens takes a configured base plus host and process id.
"""

from __future__ import annotations

import os
import socket
import ssl
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["client_for_url", "unique_client_id"]


def unique_client_id(base: str) -> str:
    """Return ``base-host-pid``: one client ID per process, stable for the process's life."""
    return f"{base}-{socket.gethostname()}-{os.getpid()}"


def client_for_url(url: str, *, client_id: str) -> tuple[mqtt.Client, str, int]:
    """Build an MQTT 5 paho client for an ``mqtt://`` or ``mqtts://`` URL; return host, port."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"}:
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {parts.scheme}://")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if parts.username:
        client.username_pw_set(
            unquote(parts.username), unquote(parts.password) if parts.password else None
        )
    if parts.scheme == "mqtts":
        client.tls_set_context(ssl.create_default_context())
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    return client, parts.hostname or "127.0.0.1", port
