"""Device credentials enforced by FireGrid's own broker (issue 10 point 1), over real Mosquitto.

Devices are imported as the CLI and API import them; the broker is the embedded Mosquitto with
the dynamic-security plugin, started as `firegrid up` starts it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import pytest

from devices.broker_accounts import DynsecAccounts
from devices.credentials import IssuedCredential
from devices.flows import (
    delete_credential,
    parse_registry,
    rotate_credential,
    set_credential_disabled,
    store_registry,
)
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from tests.fix_ingest import wait_until
from tests.fix_mqtt import SecureBroker
from tests.integration.credentials_support import DELIVERED, NOT_AUTHORIZED, Probe

T = TypeVar("T")

PREFIX = "fg/v1"
TELEMETRY = json.dumps({"ts": "2026-11-26T06:30:00Z", "seq": 1, "values": {"pressure_mpa": 0.31}})


@pytest.fixture
def accounts(secure_broker: SecureBroker) -> DynsecAccounts:
    """FireGrid's administration of the broker's device accounts."""
    return DynsecAccounts(secure_broker.admin, prefix=PREFIX)


@pytest.fixture
def tag() -> str:
    """A suffix making this test's device IDs its own."""
    return uuid.uuid4().hex[:8]


def _import(
    db_url: str, accounts: DynsecAccounts, kind: str, rows: list[dict[str, Any]]
) -> dict[str, IssuedCredential]:
    parsed = parse_registry(kind, json.dumps(rows).encode(), fmt="json")  # type: ignore[arg-type]
    assert not parsed.errors, parsed.errors
    with psycopg.connect(db_url) as conn:
        outcome = store_registry(conn, kind=kind, parsed=parsed, accounts=accounts)  # type: ignore[arg-type]
    return {c.device_id: c for c in outcome.credentials}


def _devices(db_url: str, accounts: DynsecAccounts, *ids: str) -> dict[str, IssuedCredential]:
    return _import(db_url, accounts, "devices", [{"device_id": i, "kind": "hydrant"} for i in ids])


def _probe(url: str) -> Probe:
    return Probe(url, client_id=f"probe-{uuid.uuid4().hex[:8]}")


def _as(broker: SecureBroker, cred: IssuedCredential) -> str:
    return broker.url_as(cred.username, cred.password)


def _accepted(broker: SecureBroker, cred: IssuedCredential) -> bool:
    with _probe(_as(broker, cred)) as probe:
        return probe.accepted


def _refused(broker: SecureBroker, cred: IssuedCredential) -> bool:
    with _probe(_as(broker, cred)) as probe:
        return probe.refused


def _ends_the_session(
    broker: SecureBroker,
    cred: IssuedCredential,
    db_url: str,
    change: Callable[[psycopg.Connection[Any]], T],
) -> T:
    """Connect as ``cred``, make ``change`` in the database; the broker must end that session."""
    with _probe(_as(broker, cred)) as connected:
        assert connected.accepted
        with psycopg.connect(db_url) as conn:
            result = change(conn)
        # Ended by the broker, not left running until the device reconnects.
        assert connected.answers.disconnected.wait(5), f"{cred.username}'s session kept running"
    return result


def test_a_device_publishes_only_under_its_own_id(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    a, b = f"A-{tag}", f"B-{tag}"
    creds = _devices(db_url, accounts, a, b)
    assert set(creds) == {a, b}
    assert creds[a].username == a
    assert creds[a].password != creds[b].password
    with _probe(_as(secure_broker, creds[a])) as device_a:
        assert device_a.accepted
        assert device_a.publish(f"{PREFIX}/d/{a}/telemetry", TELEMETRY.encode()) in DELIVERED
        # A's credential on B's topic: the broker refuses the PUBLISH itself.
        assert device_a.publish(f"{PREFIX}/d/{b}/telemetry", b"{}") == NOT_AUTHORIZED
        assert device_a.publish(f"{PREFIX}/t/{a}/report", b"{}") == NOT_AUTHORIZED
        assert device_a.subscribe(f"{PREFIX}/#") == NOT_AUTHORIZED


def test_an_anonymous_client_and_a_wrong_secret_are_refused_at_connect(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    cred = _devices(db_url, accounts, f"C-{tag}")[f"C-{tag}"]
    with _probe(secure_broker.anonymous_url) as anonymous:
        assert anonymous.refused
    with _probe(secure_broker.url_as(cred.username, cred.password + "x")) as wrong:
        assert wrong.refused


def test_a_reimport_keeps_the_credential_and_shows_no_secret(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    device = f"R-{tag}"
    first = _devices(db_url, accounts, device)[device]
    assert _devices(db_url, accounts, device) == {}
    assert _accepted(secure_broker, first)


def test_a_rotated_secret_stops_working_at_once(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    device = f"O-{tag}"
    old = _devices(db_url, accounts, device)[device]
    new = _ends_the_session(
        secure_broker,
        old,
        db_url,
        lambda conn: rotate_credential(conn, username=device, accounts=accounts),
    )
    assert new.password != old.password
    assert _refused(secure_broker, old)
    with _probe(_as(secure_broker, new)) as client:
        assert client.accepted
        assert client.publish(f"{PREFIX}/d/{device}/telemetry", TELEMETRY.encode()) in DELIVERED


def test_a_disabled_device_cannot_connect_until_enabled(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    device = f"D-{tag}"
    cred = _devices(db_url, accounts, device)[device]
    _ends_the_session(
        secure_broker,
        cred,
        db_url,
        lambda conn: set_credential_disabled(
            conn, username=device, disabled=True, accounts=accounts
        ),
    )
    assert _refused(secure_broker, cred)
    with psycopg.connect(db_url) as conn:
        set_credential_disabled(conn, username=device, disabled=False, accounts=accounts)
    assert _accepted(secure_broker, cred)


def test_a_deleted_credential_is_refused(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    device = f"X-{tag}"
    cred = _devices(db_url, accounts, device)[device]
    with psycopg.connect(db_url) as conn:
        delete_credential(conn, username=device, accounts=accounts)
    assert _refused(secure_broker, cred)
    with psycopg.connect(db_url) as conn:  # a rotation gives it a credential again
        new = rotate_credential(conn, username=device, accounts=accounts)
    assert _accepted(secure_broker, new)


def test_a_terminal_publishes_its_own_topics_and_reads_only_its_inbox(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    mine, other = f"T-{tag}", f"U-{tag}"
    creds = _import(
        db_url,
        accounts,
        "staff",
        [
            {"staff_id": f"S-{tag}", "name": "张三", "role": "grid_worker", "terminal_id": mine},
            {"staff_id": f"V-{tag}", "name": "李四", "role": "grid_worker", "terminal_id": other},
        ],
    )
    assert set(creds) == {mine, other}
    inbox = f"{PREFIX}/t/{mine}/inbox"
    with _probe(_as(secure_broker, creds[mine])) as terminal:
        assert terminal.accepted
        assert terminal.subscribe(inbox) == 1  # granted QoS 1
        assert terminal.subscribe(f"{PREFIX}/t/{other}/inbox") == NOT_AUTHORIZED
        assert terminal.publish(f"{PREFIX}/t/{mine}/nmea", b"$GPRMC") in DELIVERED
        assert terminal.publish(f"{PREFIX}/t/{other}/nmea", b"$GPRMC") == NOT_AUTHORIZED
        assert terminal.publish(inbox, b"forged") == NOT_AUTHORIZED  # FireGrid's to write
        with _probe(secure_broker.service_url) as firegrid:
            assert firegrid.publish(inbox, b'{"kind": "case.assigned"}') in DELIVERED
        with terminal.answers.changed:
            terminal.answers.changed.wait_for(lambda: terminal.answers.messages, 5)
        assert terminal.answers.messages == [(inbox, b'{"kind": "case.assigned"}')]


@pytest.fixture
def secure_ingest(secure_broker: SecureBroker, db_url: str, tag: str) -> Iterator[IngestService]:
    """FireGrid's ingest connected to the broker with FireGrid's service credential."""
    svc = IngestService(
        mqtt_url=secure_broker.service_url,
        db_url=db_url,
        settings=IngestSettings(topic_prefix=PREFIX, client_id=f"fg-ingest-{tag}"),
        storage=StorageSettings(),
    )
    svc.start()
    try:
        assert svc.subscriber.connected.wait(10), "ingest could not connect as FireGrid"
        time.sleep(0.2)  # let the SUBACK land before the first publish
        yield svc
    finally:
        svc.stop()


def test_ingest_reads_what_a_device_publishes_with_its_credential(
    secure_broker: SecureBroker,
    accounts: DynsecAccounts,
    db_url: str,
    tag: str,
    secure_ingest: IngestService,
) -> None:
    del secure_ingest
    device = f"I-{tag}"
    cred = _devices(db_url, accounts, device)[device]
    with _probe(_as(secure_broker, cred)) as client:
        assert client.publish(f"{PREFIX}/d/{device}/telemetry", TELEMETRY.encode()) in DELIVERED
        # The embedded ID disagreeing with the topic is still the service's to reject.
        mismatch = json.dumps({"device_id": "someone-else", **json.loads(TELEMETRY)})
        assert client.publish(f"{PREFIX}/d/{device}/telemetry", mismatch.encode()) in DELIVERED

    def stored() -> bool:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT value FROM readings WHERE device_id = %s AND metric = 'pressure_mpa'",
                (device,),
            ).fetchone()
            return row is not None and row[0] == pytest.approx(0.31)

    def mismatch_rejected() -> bool:
        with psycopg.connect(db_url) as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM rejected_messages"
                    " WHERE topic = %s AND reason = 'device_mismatch'",
                    (f"{PREFIX}/d/{device}/telemetry",),
                ).fetchone()
                is not None
            )

    wait_until(stored, what="the device's reading stored by ingest")
    wait_until(mismatch_rejected, what="the mismatching payload rejected as device_mismatch")


def test_a_restarted_broker_takes_every_credential_from_the_database(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    kept, off = f"K-{tag}", f"F-{tag}"
    creds = _devices(db_url, accounts, kept, off)
    with psycopg.connect(db_url) as conn:
        set_credential_disabled(conn, username=off, disabled=True, accounts=accounts)
    secure_broker.restart(db_url)
    with _probe(_as(secure_broker, creds[kept])) as client:
        assert client.accepted
        assert client.publish(f"{PREFIX}/d/{kept}/event", b"{}") in DELIVERED
        assert client.publish(f"{PREFIX}/d/{off}/event", b"{}") == NOT_AUTHORIZED
    assert _refused(secure_broker, creds[off])


def test_firegrid_subscribes_everywhere_shared_or_not(secure_broker: SecureBroker) -> None:
    # Scaled-out ingest subscribes through a shared group (FIREGRID_INGEST__SHARED_GROUP).
    with _probe(secure_broker.service_url) as firegrid:
        assert firegrid.accepted
        assert firegrid.subscribe(f"{PREFIX}/#") == 1
        assert firegrid.subscribe(f"$share/ingest/{PREFIX}/#") == 1


def test_the_demo_fleet_publishes_each_device_with_its_own_credential(
    secure_broker: SecureBroker,
    accounts: DynsecAccounts,
    db_url: str,
    secure_ingest: IngestService,
) -> None:
    from firegrid.demo import DemoFleet

    del secure_ingest
    started = time.time()
    demo = DemoFleet(
        db_url=db_url,
        mqtt_url=secure_broker.service_url,
        prefix=PREFIX,
        period_s=0.2,
        accounts=accounts,
    )
    demo.start()
    try:

        def fresh(device: str) -> bool:
            with psycopg.connect(db_url) as conn:
                row = conn.execute(
                    "SELECT 1 FROM readings WHERE device_id = %s"
                    " AND received_at > to_timestamp(%s) LIMIT 1",
                    (device, started),
                ).fetchone()
                return row is not None

        wait_until(lambda: fresh("DEMO-HYD-00"), what="a demo hydrant's reading stored")
        wait_until(lambda: fresh("DEMO-SMK-00"), what="a demo smoke detector's reading stored")
    finally:
        demo.stop()
    with psycopg.connect(db_url) as conn:
        scopes = dict(
            conn.execute(
                "SELECT username, scope FROM device_credentials WHERE username LIKE 'DEMO-%'"
            ).fetchall()
        )
    assert scopes["DEMO-HYD-00"] == "d"
    assert scopes["DEMO-TERM-01"] == "t"
    # The broker saw each device log in as itself, not FireGrid's all-topics service client.
    broker_log = secure_broker.handle.log_path.read_text()
    assert "u'DEMO-HYD-00'" in broker_log
    assert "u'DEMO-SMK-00'" in broker_log


def test_a_device_reimported_as_a_terminal_moves_namespace_at_rotation(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    device = f"M-{tag}"
    _devices(db_url, accounts, device)
    assert _import(db_url, accounts, "devices", [{"device_id": device, "kind": "terminal"}]) == {}
    with psycopg.connect(db_url) as conn:
        new = rotate_credential(conn, username=device, accounts=accounts)
    with _probe(_as(secure_broker, new)) as terminal:
        assert terminal.publish(f"{PREFIX}/t/{device}/nmea", b"$GPRMC") in DELIVERED
        assert terminal.publish(f"{PREFIX}/d/{device}/telemetry", b"{}") == NOT_AUTHORIZED
        assert terminal.subscribe(f"{PREFIX}/t/{device}/inbox") == 1


def test_a_client_the_broker_kept_takes_the_new_secret(
    secure_broker: SecureBroker, accounts: DynsecAccounts, db_url: str, tag: str
) -> None:
    # The broker still has the client (say the database was restored from a backup without
    # it): provisioning again resets it instead of failing on "already exists".
    device = f"N-{tag}"
    old = _devices(db_url, accounts, device)[device]
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM device_credentials WHERE username = %s", (device,))
    new = _devices(db_url, accounts, device)[device]
    with _probe(_as(secure_broker, old)) as refused:
        assert refused.refused
    with _probe(_as(secure_broker, new)) as client:
        assert client.publish(f"{PREFIX}/d/{device}/telemetry", b"{}") in DELIVERED


def test_a_simulator_with_a_refused_credential_says_so_without_the_secret(
    secure_broker: SecureBroker,
) -> None:
    from simulators.publish import Publisher

    with pytest.raises(ConnectionError, match="refused the connection") as refused:
        Publisher(secure_broker.url_as("nobody", "not-the-secret"), client_id="sim-refused")
    assert "not-the-secret" not in str(refused.value)
