"""The EMQX queries of docs/integrators/broker-auth.md, run against FireGrid's real schema.

EMQX cannot run here; its side is reproduced from its documented behaviour: the authenticator
checks ``hex(pbkdf2(mac_fun, password, salt, iterations, dk_length)) == password_hash`` with the
salt column's bytes, and the authorization source takes the first row whose action and topic
match (``no_match = deny``). Placeholders ``${username}`` become bound parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devices.credentials import IssuedCredential
from devices.flows import parse_registry, set_credential_disabled, store_registry

DOC = Path(__file__).parents[2] / "docs" / "integrators" / "broker-auth.md"


def _documented_query(marker: str) -> str:
    """Return the SQL block right after ``<!-- marker -->`` in the doc, placeholders bound."""
    match = re.search(rf"<!-- {marker} -->\n```sql\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match is not None, f"{DOC} lost its {marker} block"
    return match.group(1).replace("${username}", "%(username)s")


AUTHN = _documented_query("emqx-authn-query")
# EMQX's password_hash_algorithm as the doc configures it.
_ALGORITHM = re.search(
    r"name = pbkdf2, mac_fun = (\w+), iterations = (\d+), dk_length = 64", DOC.read_text()
)
assert _ALGORITHM is not None, f"{DOC} lost EMQX's password_hash_algorithm"
EMQX_MAC, EMQX_ITERATIONS = _ALGORITHM.group(1), int(_ALGORITHM.group(2))
ACL = _documented_query("emqx-acl-query")


def _emqx_authenticates(conn: psycopg.Connection[Any], username: str, password: str) -> bool:
    row = conn.execute(AUTHN, {"username": username}).fetchone()
    if row is None:
        return False  # EMQX: "ignore", and with no authenticator after it the client is refused
    password_hash, salt = row
    derived = hashlib.pbkdf2_hmac(EMQX_MAC, password.encode(), salt.encode(), EMQX_ITERATIONS, 64)
    return bool(derived.hex() == password_hash)


def _matches(pattern: str, topic: str) -> bool:
    """MQTT topic-filter matching, as EMQX applies an ACL row's topic."""
    parts, levels = pattern.split("/"), topic.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            return True
        if i >= len(levels) or (part not in {"+", levels[i]}):
            return False
    return len(parts) == len(levels)


def _emqx_allows(conn: psycopg.Connection[Any], username: str, action: str, topic: str) -> bool:
    for permission, rule_action, pattern in conn.execute(ACL, {"username": username}):
        if rule_action in {action, "all"} and _matches(pattern, topic):
            return bool(permission == "allow")
    return False  # no_match = deny


def _import(
    conn: psycopg.Connection[Any], kind: str, rows: list[dict[str, Any]]
) -> dict[str, IssuedCredential]:
    parsed = parse_registry(kind, json.dumps(rows).encode(), fmt="json")  # type: ignore[arg-type]
    outcome = store_registry(conn, kind=kind, parsed=parsed)  # type: ignore[arg-type]
    return {c.username: c for c in outcome.credentials}


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_the_documented_authentication_query_checks_the_stored_hash(
    conn: psycopg.Connection[Any], tag: str
) -> None:
    a, b = f"A-{tag}", f"B-{tag}"
    creds = _import(
        conn, "devices", [{"device_id": a, "kind": "hydrant"}, {"device_id": b, "kind": "smoke"}]
    )
    assert _emqx_authenticates(conn, a, creds[a].password)
    assert not _emqx_authenticates(conn, a, creds[b].password)
    assert not _emqx_authenticates(conn, f"nobody-{tag}", creds[a].password)
    set_credential_disabled(conn, username=a, disabled=True)
    assert not _emqx_authenticates(conn, a, creds[a].password)
    assert _emqx_authenticates(conn, b, creds[b].password)


def test_the_documented_acl_query_allows_only_a_devices_own_topics(
    conn: psycopg.Connection[Any], tag: str
) -> None:
    a, b = f"A-{tag}", f"B-{tag}"
    _import(
        conn, "devices", [{"device_id": a, "kind": "hydrant"}, {"device_id": b, "kind": "hydrant"}]
    )
    assert _emqx_allows(conn, a, "publish", f"fg/v1/d/{a}/telemetry")
    assert _emqx_allows(conn, a, "publish", f"fg/v1/d/{a}/raw/mk-pressure")
    assert not _emqx_allows(conn, a, "publish", f"fg/v1/d/{b}/telemetry")
    assert not _emqx_allows(conn, a, "publish", f"fg/v1/t/{a}/report")
    assert not _emqx_allows(conn, a, "subscribe", f"fg/v1/d/{a}/telemetry")
    set_credential_disabled(conn, username=a, disabled=True)
    assert not _emqx_allows(conn, a, "publish", f"fg/v1/d/{a}/telemetry")


def test_the_documented_acl_query_gives_a_terminal_its_topics_and_inbox(
    conn: psycopg.Connection[Any], tag: str
) -> None:
    mine, other = f"T-{tag}", f"U-{tag}"
    _import(conn, "devices", [{"device_id": mine, "kind": "terminal"}])
    _import(
        conn,
        "staff",
        [{"staff_id": f"S-{tag}", "name": "王五", "role": "grid_worker", "terminal_id": other}],
    )
    for terminal in (mine, other):
        assert _emqx_allows(conn, terminal, "publish", f"fg/v1/t/{terminal}/report")
        assert _emqx_allows(conn, terminal, "subscribe", f"fg/v1/t/{terminal}/inbox")
        assert not _emqx_allows(conn, terminal, "publish", f"fg/v1/t/{terminal}/inbox")
    assert not _emqx_allows(conn, mine, "subscribe", f"fg/v1/t/{other}/inbox")
    assert not _emqx_allows(conn, mine, "publish", f"fg/v1/t/{other}/nmea")
    assert not _emqx_allows(conn, mine, "publish", f"fg/v1/d/{mine}/telemetry")
