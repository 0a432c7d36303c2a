"""Device imports through the API answer the new broker credentials, once (issue 10 point 1)."""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from devices.broker_accounts import DynsecAccounts
from devices.credentials import hash_secret
from infra.dynsec import DynsecAdmin
from tests.fix_mqtt import SecureBroker
from tests.integration.credentials_support import DELIVERED, NOT_AUTHORIZED, Probe


def _csv(*rows: str) -> str:
    return "device_id,kind\n" + "".join(f"{row}\n" for row in rows)


def _import(client: TestClient, auth: dict[str, str], body: str) -> dict[str, object]:
    answer = client.post(
        "/api/v1/devices/import", content=body, headers={**auth, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    body_json: dict[str, object] = answer.json()
    return body_json


def test_new_devices_get_a_credential_once_and_only_its_hash_is_kept(
    client: TestClient, auth: dict[str, str], db_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    first = _import(client, auth, _csv(f"{tag}-A,hydrant", f"{tag}-T,terminal"))
    creds = {c["device_id"]: c for c in first["credentials"]}  # type: ignore[attr-defined]
    assert set(creds) == {f"{tag}-A", f"{tag}-T"}
    assert creds[f"{tag}-A"]["username"] == f"{tag}-A"
    # A re-import keeps the credentials; a new device in it gets one.
    again = _import(client, auth, _csv(f"{tag}-A,hydrant", f"{tag}-B,smoke"))
    assert [c["device_id"] for c in again["credentials"]] == [f"{tag}-B"]  # type: ignore[attr-defined]
    with psycopg.connect(db_url) as conn:
        rows = {
            name: (scope, digest, salt, iterations)
            for name, scope, digest, salt, iterations in conn.execute(
                "SELECT username, scope, password_hash, salt, iterations FROM device_credentials"
                " WHERE username LIKE %s",
                (f"{tag}-%",),
            ).fetchall()
        }
    scope, digest, salt, iterations = rows[f"{tag}-A"]
    assert scope == "d"
    assert rows[f"{tag}-T"][0] == "t"  # a terminal publishes under fg/v1/t/
    assert creds[f"{tag}-A"]["password"] not in digest
    assert digest == hash_secret(creds[f"{tag}-A"]["password"], salt=salt, iterations=iterations)


def test_an_import_through_the_api_provisions_the_broker(
    client: TestClient, auth: dict[str, str], secure_broker: SecureBroker
) -> None:
    client.app.state.broker_accounts = DynsecAccounts(secure_broker.admin, prefix="fg/v1")  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex[:6]
    cred = _import(client, auth, _csv(f"{tag}-P,hydrant"))["credentials"][0]  # type: ignore[index]
    url = secure_broker.url_as(cred["username"], cred["password"])
    with Probe(url, client_id=f"probe-{tag}") as device:
        assert device.accepted
        assert device.publish(f"fg/v1/d/{tag}-P/telemetry", b"{}") in DELIVERED
        assert device.publish(f"fg/v1/d/{tag}-Q/telemetry", b"{}") == NOT_AUTHORIZED


def test_a_broker_that_cannot_take_the_credentials_fails_the_import_whole(
    client: TestClient, auth: dict[str, str], db_url: str, secure_broker: SecureBroker
) -> None:
    wrong = DynsecAdmin(url=secure_broker.anonymous_url, username="firegrid-admin", password="x")
    client.app.state.broker_accounts = DynsecAccounts(wrong, prefix="fg/v1")  # type: ignore[attr-defined]
    tag = uuid.uuid4().hex[:6]
    answer = client.post(
        "/api/v1/devices/import",
        content=_csv(f"{tag}-Z,hydrant"),
        headers={**auth, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "broker_unavailable"
    assert answer.headers["Retry-After"] == "5"
    with psycopg.connect(db_url) as conn:  # rolled back: no device without a usable credential
        assert (
            conn.execute("SELECT 1 FROM devices WHERE device_id = %s", (f"{tag}-Z",)).fetchone()
            is None
        )
