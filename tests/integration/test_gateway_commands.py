"""Commands to a transmission device: asked for over the API, sent by the gateway, confirmed by
the device; a duty check answered by its operator has its response time, one left unanswered
is marked so; a status read is answered with what the device reports, or given up."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from gateway.config import GatewaySettings
from rules.flows import RulesService
from simulators.transmission import (
    DUTY_CHECK_TYPE,
    READ_PART_STATUS_TYPE,
    READ_SYSTEM_STATUS_TYPE,
    TransmissionDevice,
)
from tests.fix_api import api_client, bearer
from tests.fix_ingest import wait_until
from tests.integration.cli_support import run_cli
from tests.integration.dispatch_support import rules
from tests.integration.gateway_support import GatewayHarness, gateways
from tests.integration.test_gateway import NOW

__all__ = ["gateways", "rules"]  # fixtures, used by name

CLOCK_SYNC_TYPE = 90


def _client(db_url: str, role: str = "operator", name: str | None = None) -> TestClient:
    return api_client(db_url, bearer(db_url, role, name=name))


def _serve_until(unit: TransmissionDevice, count: int, *, answer: bool = True) -> None:
    deadline = time.monotonic() + 15
    while len(unit.commands) < count:
        assert time.monotonic() < deadline, f"{count} commands never reached the device"
        unit.serve_commands(0.2, answer_duty_checks=answer)


def _commands(client: TestClient, device_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/devices/{device_id}/commands")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@contextmanager
def _sent_three_times_unconfirmed(
    gateways: GatewayHarness, name: str, command: dict[str, Any]
) -> Iterator[tuple[TestClient, TransmissionDevice, str]]:
    """Ask a device that confirms nothing for ``command``; yield once it was sent 3 times.

    Yields the API client, the device and its ID; the gateway resends every 0.3 s.
    """
    address, dev = gateways.address(), f"{name}-{gateways.tag}"
    gateways.register(dev, address)
    settings = GatewaySettings(command_poll_s=0.05, command_resend_s=0.3, command_attempts=3)
    port = gateways.start(settings=settings).gateway.port
    assert port is not None
    with (
        _client(gateways.db_url) as client,
        TransmissionDevice("127.0.0.1", port, address=address, confirm_commands=False) as unit,
    ):
        assert unit.pressure(5, 1, 320.0, at=NOW).confirmed
        asked = client.post(f"/api/v1/devices/{dev}/commands", json=command)
        assert asked.status_code == 200, asked.text
        _serve_until(unit, 3)  # the same command three times, none confirmed
        yield client, unit, dev


def _cli_command(gateways: GatewayHarness, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``firegrid gateway command <args>`` as a user would."""
    return run_cli("gateway", "command", *args, db_url=gateways.db_url, timeout=120)


def test_a_duty_check_and_a_clock_sync_reach_the_device_and_are_settled(
    gateways: GatewayHarness,
) -> None:
    address, dev = gateways.address(), f"CMD-{gateways.tag}"
    gateways.register(dev, address)
    port = gateways.start(settings=GatewaySettings(command_poll_s=0.1)).gateway.port
    assert port is not None
    name = f"desk-{gateways.tag}"
    with (
        _client(gateways.db_url, name=name) as client,
        TransmissionDevice("127.0.0.1", port, address=address) as unit,
    ):
        assert unit.pressure(5, 1, 320.0, at=NOW).confirmed  # connected and known by address
        for kind in ("duty_check", "clock_sync"):
            asked = client.post(f"/api/v1/devices/{dev}/commands", json={"kind": kind})
            assert asked.status_code == 200, asked.text
            assert asked.json()["status"] == "pending"
        _serve_until(unit, 2)
        assert sorted(unit.commands) == [CLOCK_SYNC_TYPE, DUTY_CHECK_TYPE]
        wait_until(
            lambda: (
                {c["kind"]: c["status"] for c in _commands(client, dev)}
                == {"duty_check": "answered", "clock_sync": "confirmed"}
            ),
            timeout_s=15,
            what="the duty check answered and the clock sync confirmed",
        )
        duty = next(c for c in _commands(client, dev) if c["kind"] == "duty_check")
        assert duty["attempts"] == 1
        assert 0 <= duty["response_s"] < 15
        assert duty["requested_by"] == name


def test_a_duty_check_nobody_answers_is_unanswered_and_a_hazard(
    gateways: GatewayHarness, rules: RulesService
) -> None:
    address, dev = gateways.address(), f"QUIET-{gateways.tag}"
    gateways.register(dev, address)
    silent = f"NOADDR-{gateways.tag}"
    with psycopg.connect(gateways.db_url) as conn:
        conn.execute("INSERT INTO devices (device_id, kind) VALUES (%s, 'transmission')", (silent,))
    port = gateways.start(settings=GatewaySettings(command_poll_s=0.1)).gateway.port
    assert port is not None
    with (
        _client(gateways.db_url) as client,
        TransmissionDevice("127.0.0.1", port, address=address) as unit,
    ):
        assert unit.pressure(5, 1, 320.0, at=NOW).confirmed
        asked = client.post(
            f"/api/v1/devices/{dev}/commands", json={"kind": "duty_check", "answer_within_min": 1}
        )
        assert asked.status_code == 200, asked.text
        _serve_until(unit, 1, answer=False)
        assert unit.commands == [DUTY_CHECK_TYPE]
        with psycopg.connect(gateways.db_url) as conn:  # a minute later, as far as it knows
            conn.execute(
                "UPDATE gateway_commands SET answer_by = now() - interval '1 s'"
                " WHERE device_id = %s",
                (dev,),
            )
        wait_until(
            lambda: [c["status"] for c in _commands(client, dev)] == ["unanswered"],
            timeout_s=15,
            what="the duty check marked unanswered",
        )
        # Stored as the device's event, through ingest, and the rules open a hazard on it.
        assert gateways.events(dev) == [("duty_check_missed", _commands(client, dev)[0]["id"])]
        rules.process_pending()
        hazards = gateways.rows("SELECT rule_id, status FROM hazards WHERE device_id = %s", dev)
        assert hazards == [("transmission_duty_check", "open")]
        smoke = client.post("/api/v1/devices/nope/commands", json={"kind": "clock_sync"})
        assert smoke.status_code == 404
        assert smoke.json()["error"]["code"] == "not_found"
        bad = client.post(f"/api/v1/devices/{dev}/commands", json={"kind": "reboot"})
        assert bad.status_code == 422
        nowhere = client.post(f"/api/v1/devices/{silent}/commands", json={"kind": "clock_sync"})
        assert nowhere.status_code == 409
        assert nowhere.json()["error"]["code"] == "no_gb26875_address"
    with _client(gateways.db_url, role="viewer") as viewer:
        refused = viewer.post(f"/api/v1/devices/{dev}/commands", json={"kind": "clock_sync"})
        assert refused.status_code == 403


def test_an_unconfirmed_command_is_sent_again_then_given_up(gateways: GatewayHarness) -> None:
    command = {"kind": "clock_sync"}
    with _sent_three_times_unconfirmed(gateways, "DEAF", command) as (client, unit, dev):
        wait_until(
            lambda: (
                [(c["status"], c["attempts"]) for c in _commands(client, dev)]
                == [("unconfirmed", 3)]
            ),
            timeout_s=15,
            what="the command given up after 3 attempts",
        )
        unit.serve_commands(1.0)
        assert unit.commands == [CLOCK_SYNC_TYPE] * 3  # and never sent again


def test_the_cli_asks_for_a_command_and_refuses_a_device_without_an_address(
    gateways: GatewayHarness,
) -> None:
    address, dev = gateways.address(), f"CLI-{gateways.tag}"
    gateways.register(dev, address)
    asked = _cli_command(gateways, dev, "duty_check", "--answer-within-min", "5")
    assert asked.returncode == 0, asked.stderr
    stored = json.loads(asked.stdout)
    assert (stored["kind"], stored["status"], stored["requested_by"]) == (
        "duty_check",
        "pending",
        "cli",
    )
    refused = _cli_command(gateways, f"NOPE-{gateways.tag}", "clock_sync")
    assert refused.returncode == 2
    assert "not in the registry" in refused.stderr


def test_status_reads_are_answered_with_what_the_device_reports(gateways: GatewayHarness) -> None:
    address, dev = gateways.address(), f"READ-{gateways.tag}"
    gateways.register(dev, address)
    port = gateways.start(settings=GatewaySettings(command_poll_s=0.1)).gateway.port
    assert port is not None
    with (
        _client(gateways.db_url) as client,
        TransmissionDevice("127.0.0.1", port, address=address) as unit,
    ):
        assert unit.fire_alarm(3, 7, at=NOW, description="3区7号感烟探测器").confirmed
        bodies: list[dict[str, Any]] = [
            {"kind": "read_system_status"},
            {"kind": "read_part_status", "target": {"zone": 3, "position": 7}},
            {"kind": "read_part_status", "target": {"zone": 1, "position": 1}},
        ]
        for body in bodies:
            asked = client.post(f"/api/v1/devices/{dev}/commands", json=body)
            assert asked.status_code == 200, asked.text
            assert asked.json()["status"] == "pending"
        _serve_until(unit, 3)
        assert sorted(unit.commands) == [READ_SYSTEM_STATUS_TYPE, *[READ_PART_STATUS_TYPE] * 2]
        wait_until(
            lambda: [c["status"] for c in _commands(client, dev)] == ["answered"] * 3,
            timeout_s=15,
            what="the three reads answered",
        )
        normal, fire, system = _commands(client, dev)  # newest first
    assert system["target"] == {
        "system_type": 1,
        "system_address": 1,
        "zone": None,
        "position": None,
    }
    [panel] = system["answer"]
    assert (panel["unit_type"], panel["status_bits"]) == (1, ["fire"])  # a part is in fire
    assert fire["target"] == {"system_type": 1, "system_address": 1, "zone": 3, "position": 7}
    [part] = fire["answer"]
    assert (part["zone"], part["position"], part["status_bits"], part["description"]) == (
        3,
        7,
        ["fire"],
        "3区7号感烟探测器",
    )
    [quiet] = normal["answer"]
    assert (quiet["zone"], quiet["position"], quiet["status"], quiet["status_bits"]) == (
        1,
        1,
        1,  # bit 0: running normally, nothing else
        [],
    )
    for read in (system, fire, normal):
        assert read["attempts"] == 1
        assert 0 <= read["response_s"] < 15


def test_a_read_nobody_answers_is_sent_again_then_unanswered(gateways: GatewayHarness) -> None:
    command = {"kind": "read_system_status"}
    with _sent_three_times_unconfirmed(gateways, "NOREAD", command) as (client, unit, dev):
        wait_until(
            lambda: (
                [(c["status"], c["attempts"], c["answer"]) for c in _commands(client, dev)]
                == [("unanswered", 3, None)]
            ),
            timeout_s=15,
            what="the read given up after 3 attempts",
        )
        assert unit.commands == [READ_SYSTEM_STATUS_TYPE] * 3


def test_a_read_must_name_what_it_reads(gateways: GatewayHarness) -> None:
    address, dev = gateways.address(), f"BADREAD-{gateways.tag}"
    gateways.register(dev, address)
    with _client(gateways.db_url) as client:
        for body in (
            {"kind": "read_part_status"},
            {"kind": "read_part_status", "target": {"zone": 3}},
            {"kind": "read_part_status", "target": {"zone": 3, "position": 70000}},
            {"kind": "clock_sync", "target": {"system_type": 1}},
            {"kind": "read_system_status", "target": {"system_adress": 2}},  # misspelt
        ):
            refused = client.post(f"/api/v1/devices/{dev}/commands", json=body)
            assert refused.status_code == 422, body
            assert refused.json()["error"]["code"] == "invalid_request"
        assert _commands(client, dev) == []  # nothing stored


def test_the_cli_asks_for_a_part_read(gateways: GatewayHarness) -> None:
    address, dev = gateways.address(), f"CLIREAD-{gateways.tag}"
    gateways.register(dev, address)
    asked = _cli_command(gateways, dev, "read_part_status", "--zone", "3", "--position", "7")
    assert asked.returncode == 0, asked.stderr
    stored = json.loads(asked.stdout)
    assert (stored["kind"], stored["status"], stored["target"]) == (
        "read_part_status",
        "pending",
        {"system_type": 1, "system_address": 1, "zone": 3, "position": 7},
    )
    refused = _cli_command(gateways, dev, "read_part_status", "--zone", "3")
    assert refused.returncode == 2
    assert "--position" in refused.stderr
    out_of_range = _cli_command(gateways, dev, "read_system_status", "--system-type", "300")
    assert out_of_range.returncode == 2
    assert "--system-type" in out_of_range.stderr
