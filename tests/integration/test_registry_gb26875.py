"""The registry's gb26875_address: imported from CSV, only for transmission devices, unique."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from devices import registry, service


def _import(conn: psycopg.Connection[Any], csv: str) -> None:
    parsed = registry.parse_devices(csv, fmt="csv")
    assert not parsed.errors, parsed.errors
    service.upsert_devices(conn, rows=parsed.rows)


def test_a_csv_row_gives_a_transmission_device_its_address(
    conn: psycopg.Connection[Any],
) -> None:
    tag = uuid.uuid4().hex[:6]
    address = uuid.uuid4().int % 2**40
    _import(conn, f"device_id,kind,gb26875_address\nA-{tag},transmission,{address}\n")
    assert service.devices_by_gb26875_address(conn, addresses=[address]) == {address: f"A-{tag}"}
    # The panel's device is replaced: the new one takes the address, the old one lets go.
    _import(conn, f"device_id,kind,gb26875_address\nB-{tag},transmission,{address}\n")
    assert service.devices_by_gb26875_address(conn, addresses=[address]) == {address: f"B-{tag}"}
    # A row without the column keeps the stored address.
    _import(conn, f"device_id,kind,model\nB-{tag},transmission,UITD-2\n")
    assert service.devices_by_gb26875_address(conn, addresses=[address]) == {address: f"B-{tag}"}


def test_an_address_is_refused_on_other_kinds_and_out_of_range() -> None:
    parsed = registry.parse_devices(
        "device_id,kind,gb26875_address\nS1,smoke,889\nT1,transmission,281474976710656\n"
        "T2,transmission,-1\nT3,transmission,88888\n",
        fmt="csv",
    )
    assert [(e.row, e.field) for e in parsed.errors] == [
        (1, "gb26875_address"),
        (2, "gb26875_address"),
        (3, "gb26875_address"),
    ]
    assert [r.gb26875_address for r in parsed.rows] == [88888]
