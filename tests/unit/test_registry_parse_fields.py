"""Registry import parsing, field by field: enumerations, staff, area codes, unit levels, dates,
heartbeats, IDs and thresholds, each with its errors.
"""

from __future__ import annotations

import json

import pytest

from devices.models import DeviceKind
from devices.registry import Agent, HydrantClass, Role, parse_devices, parse_staff, parse_units
from tests.unit.registry_support import error_fields


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_every_device_kind(kind: DeviceKind) -> None:
    result = parse_devices(f"device_id,kind\nD1,{kind.value.upper()}\n")
    assert result.rows[0].kind is kind


@pytest.mark.parametrize("agent", list(Agent))
def test_every_agent(agent: Agent) -> None:
    rows = parse_devices(f"device_id,kind,agent\nE1,extinguisher,{agent.value}\n").rows
    assert rows[0].agent is agent


@pytest.mark.parametrize("hydrant_class", list(HydrantClass))
def test_every_hydrant_class(hydrant_class: HydrantClass) -> None:
    rows = parse_devices(f"device_id,kind,hydrant_class\nH1,hydrant,{hydrant_class.value}\n").rows
    assert rows[0].hydrant_class is hydrant_class


def test_enum_values_outside_their_sets_are_errors() -> None:
    text = (
        "device_id,kind,agent,hydrant_class\n"
        "E1,extinguisher,foam,\n"
        "H1,hydrant,,underground\n"
        "S1,smoke,water,\n"  # agent belongs to extinguishers only
        "S2,smoke,,indoor\n"  # hydrant_class belongs to hydrants only
    )
    result = parse_devices(text)
    assert result.rows == []
    assert error_fields(result) == [
        (1, "agent"),
        (2, "hydrant_class"),
        (3, "agent"),
        (4, "hydrant_class"),
    ]


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_role(role: Role) -> None:
    rows = parse_staff(f"staff_id,name,role\nW1,张三,{role.value}\n").rows
    assert rows[0].role is role


def test_staff_fields_and_their_errors() -> None:
    text = (
        "staff_id,name,role,area,terminal_id,phone\n"
        "W1,张三,grid_worker,310115005003007,T-860001,138 0013 8000\n"
        "W2,李四,grid_head,310115005003,,+86-21-5888 1234\n"
        "W3,王五,mayor,,,\n"
        "W4,赵六,grid_worker,31011500,,\n"
        "W5,钱七,grid_worker,,T 1,\n"
        "W6,孙八,grid_worker,,,call me\n"
        "W7,,grid_worker,,,\n"
    )
    result = parse_staff(text)
    assert [r.staff_id for r in result.rows] == ["W1", "W2"]
    assert result.rows[0].terminal_id == "T-860001"
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "role"),
        (4, "area"),
        (5, "terminal_id"),
        (6, "phone"),
        (7, "name"),
    ]


@pytest.mark.parametrize("length", [6, 9, 12, 14, 15])
def test_area_code_lengths(length: int) -> None:
    code = "310115005003007"[:length].ljust(length, "1")
    assert parse_staff(f"staff_id,name,role,area\nW1,x,operator,{code}\n").rows[0].area == code


def test_json_numbers_are_accepted_as_ids_and_phones() -> None:
    result = parse_staff(
        '[{"staff_id": 1001, "name": "x", "role": "operator", "phone": 13800138000}]'
    )
    assert result.rows[0].staff_id == "1001"
    assert result.rows[0].phone == "13800138000"


@pytest.mark.parametrize("level", ["1", "2", "3"])
def test_unit_levels(level: str) -> None:
    assert parse_units(f"unit_id,name,level\nU1,x,{level}\n").rows[0].level == int(level)


@pytest.mark.parametrize("level", ["0", "4", "一级", "1.5"])
def test_unit_level_outside_one_to_three(level: str) -> None:
    result = parse_units(f"unit_id,name,level\nU1,x,{level}\n")
    assert [(e.row, e.field) for e in result.errors] == [(1, "level")]


def test_unit_name_is_required() -> None:
    result = parse_units('[{"unit_id": "U1", "level": 1}]')
    assert [(e.row, e.field) for e in result.errors] == [(1, "name")]


def test_dates_must_be_iso_and_in_order() -> None:
    text = (
        "device_id,kind,installed_on,manufactured_on\n"
        "D1,smoke,2024-03-01,2024-03-01\n"
        "D2,smoke,2024/03/01,\n"
        "D3,smoke,2024-02-30,\n"
        "D4,smoke,2024-03-01,2024-04-01\n"
    )
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == ["D1"]
    assert error_fields(result) == [
        (2, "installed_on"),
        (3, "installed_on"),
        (4, "manufactured_on"),
    ]


def test_json_dates_must_be_strings() -> None:
    result = parse_devices('[{"device_id": "D1", "kind": "smoke", "installed_on": 20240301}]')
    assert error_fields(result) == [(1, "installed_on")]


@pytest.mark.parametrize("value", ["0", "-60", "abc", "60.5", "99999999999"])
def test_heartbeat_must_be_a_positive_int(value: str) -> None:
    result = parse_devices(f"device_id,kind,heartbeat_s\nD1,smoke,{value}\n")
    assert error_fields(result) == [(1, "heartbeat_s")]


def test_id_pattern_and_length() -> None:
    ok = "A" * 64
    text = f"device_id,kind\n{ok},smoke\n{ok}B,smoke\nD/1,smoke\n864123456789012,smoke\n"
    result = parse_devices(text)
    assert [r.device_id for r in result.rows] == [ok, "864123456789012"]
    assert error_fields(result) == [(2, "device_id"), (3, "device_id")]


def test_thresholds_from_csv_columns() -> None:
    text = (
        "device_id,kind,threshold.pressure_low_mpa,threshold.pressure_high_mpa\n"
        "H1,hydrant,0.14,1.2\n"
        "H2,hydrant,0.10,\n"
        "H3,hydrant,,\n"
        "H4,hydrant,low,\n"
    )
    result = parse_devices(text)
    assert [r.thresholds for r in result.rows] == [
        {"pressure_low_mpa": 0.14, "pressure_high_mpa": 1.2},
        {"pressure_low_mpa": 0.10},
        None,
    ]
    assert error_fields(result) == [(4, "threshold.pressure_low_mpa")]


def test_thresholds_from_json_object_and_keys() -> None:
    items = [
        {"device_id": "H1", "kind": "hydrant", "thresholds": {"pressure_low_mpa": 0.14}},
        {"device_id": "H2", "kind": "hydrant", "threshold.pressure_low_mpa": "0.2"},
        {"device_id": "H3", "kind": "hydrant", "thresholds": {"Bad-Name": 1}},
        {"device_id": "H4", "kind": "hydrant", "thresholds": {"x": "Infinity"}},
        {"device_id": "H5", "kind": "hydrant", "thresholds": [0.14]},
    ]
    result = parse_devices(json.dumps(items))
    assert [r.thresholds for r in result.rows] == [
        {"pressure_low_mpa": 0.14},
        {"pressure_low_mpa": 0.2},
    ]
    assert error_fields(result) == [
        (3, "threshold.Bad-Name"),
        (4, "threshold.x"),
        (5, "thresholds"),
    ]


def test_threshold_columns_are_only_for_devices() -> None:
    assert parse_units("unit_id,name,threshold.x\nU1,x,1\n").errors[0].row == 0
