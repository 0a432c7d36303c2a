"""DOMAIN.md §1 and §4 against the shipped rules: every threshold number, the kinds that judge
them, fire alarms from transmission devices, area codes compared level by level, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.tokens import Principal
from firegrid.settings import Settings
from grids.codes import in_area
from hazards.lifecycle import InMemorySink
from rules.engine.core import Engine
from rules.engine.types import BatchData, EngineConfig, EventRows
from rules.flows import MemoryStateStore
from rules.models import DeviceContext, SeriesArrays, Severity
from rules.rules_file import load_rules

T0 = 1_795_674_600_000  # 2026-11-26T06:30:00Z


@pytest.mark.parametrize(
    ("rule_id", "expected"),
    [
        # municipal hydrant: warn < 0.14, critical < 0.10, high > 1.0 MPa
        ("hydrant_municipal_low", {"direction": "low", "limit": 0.14, "critical_limit": 0.10}),
        ("hydrant_municipal_high", {"direction": "high", "limit": 1.0}),
        # indoor hydrant: low < 0.25 (other buildings; 0.35 by override), high > 0.50 MPa
        ("hydrant_indoor_low", {"direction": "low", "limit": 0.25}),
        ("hydrant_indoor_high", {"direction": "high", "limit": 0.50}),
        # elevated fire tank: low < 0.10 MPa
        ("water_tank_low", {"direction": "low", "limit": 0.10}),
        # any hydrant: a drop of 30 % or more within 5 min
        ("hydrant_sudden_drop", {"drop_pct": 30, "window_s": 300}),
        # dry powder: red < 0.9 MPa, green from 1.0 MPa
        ("extinguisher_pressure_low", {"direction": "low", "limit": 0.9, "hysteresis": 0.1}),
        # scrap and service ages from manufacture (GA 95, GB 50444)
        (
            "extinguisher_scrap",
            {"scrap_years": {"water": 6, "dry_powder": 10, "clean_agent": 10, "co2": 12}},
        ),
        (
            "extinguisher_service_due",
            {
                "service_first_years": {"water": 3, "dry_powder": 5, "co2": 5, "clean_agent": 5},
                "service_every_years": {"water": 1, "dry_powder": 2, "co2": 2, "clean_agent": 2},
            },
        ),
        ("extinguisher_monthly_check", {"check_every_months": 1}),
        # NB-IoT smoke alarm: heartbeat about every 24 h, offline after 2-3 missed
        ("smoke_silence", {"missed": 3, "default_heartbeat_s": 86400}),
        # GB 50440: the centre polls each transmission device at least every 2 h
        ("transmission_silence", {"missed": 1, "default_heartbeat_s": 7200}),
        # more than 5 false alarms a day at one unit
        ("unit_false_alarms", {"max_per_day": 5}),
        # 一日双巡: two patrols of at least 1 h a day
        ("grid_patrol", {"min_patrols": 2, "min_duration_s": 3600}),
    ],
)
def test_every_domain_threshold_is_the_shipped_default(
    rule_id: str, expected: dict[str, Any]
) -> None:
    params = load_rules().get(rule_id).raw_params
    assert {k: params[k] for k in expected} == expected


def test_confirmed_fire_is_critical_and_a_single_detector_is_not() -> None:
    rules = load_rules()
    assert rules.get("smoke_confirmed_fire").severity is Severity.CRITICAL
    assert rules.get("smoke_alarm").severity is not Severity.CRITICAL
    report = rules.get("worker_report").raw_params["severities"]
    assert report["fire"] == "critical"
    assert {str(r.severity) for r in rules.rules} <= {"info", "warning", "major", "critical"}


class _NoHistory:
    def series(self, *, rule_id: str, key: str, after_ts: int) -> SeriesArrays:
        del rule_id, after_ts
        return SeriesArrays.build(key, [], [], [])

    def events(self, *, rule_id: str, key: str, after_ts: int) -> EventRows:
        del rule_id, after_ts
        return EventRows.build(key, [])

    def unit_devices(self, *, unit_id: str) -> list[str]:
        del unit_id
        return []


def _hazards(ctx: DeviceContext, events: list[tuple[str, int]]) -> dict[str, Severity]:
    engine = Engine(load_rules(), EngineConfig(late_window_ms=3_600_000))
    sink = InMemorySink()
    rows = sorted((ctx.device_id, kind, ts, seq) for seq, (kind, ts) in enumerate(events))
    engine.run_batch(
        BatchData(1, (), rows),
        contexts={ctx.device_id: ctx},
        store=MemoryStateStore(),
        history=_NoHistory(),
        sink=sink,
    )
    return {h.rule_id: h.severity for h in sink.hazards() if h.live}


def test_a_fire_alarm_from_a_transmission_device_raises_a_hazard() -> None:
    # GB/T 26875.3 frames decode a part's fire bit to ``smoke_alarm`` and its fault bit to
    # ``fault`` under the transmission device's ID (DOMAIN §3): each must become a hazard.
    ctx = DeviceContext("UITD-1", "transmission", unit_id="U-1")
    raised = _hazards(ctx, [("smoke_alarm", T0), ("fault", T0 + 1000)])
    fire = [sev for rule, sev in raised.items() if sev.rank >= Severity.MAJOR.rank]
    assert fire, f"no fire-alarm hazard for a transmission device: {raised}"
    assert len(raised) == 2, raised


def test_a_smoke_detector_alarm_still_raises_its_own_hazard() -> None:
    raised = _hazards(DeviceContext("S-1", "smoke", unit_id="U-1"), [("smoke_alarm", T0)])
    assert raised == {"smoke_alarm": Severity.MAJOR}


@pytest.mark.parametrize(
    ("area", "place", "inside"),
    [
        # a 14-digit grid (2-digit sequence) is a prefix of 15-digit grids of its community
        ("31011500500301", ("310115005003012", "310115005003", "310115005"), False),
        ("31011500500301", ("31011500500301", "310115005003", "310115005"), True),
        ("310115005003012", ("310115005003012", "310115005003", "310115005"), True),
        ("310115005003", ("310115005003012", "310115005003", "310115005"), True),
        ("310115005003", ("310115005004001", "310115005004", "310115005"), False),
        ("310115005", ("31011500500301", "310115005003", "310115005"), True),
        ("310115", ("31011500500301", "310115005003", "310115005"), True),  # a county
        ("310116", ("31011500500301", "310115005003", "310115005"), False),
        ("310115005", (None, None, None), False),
    ],
)
def test_areas_compare_codes_level_by_level(
    area: str, place: tuple[str | None, str | None, str | None], inside: bool
) -> None:
    grid, community, street = place
    assert in_area(area, grid=grid, community=community, street=street) is inside
    who = Principal("operator", (area,))
    assert who.sees_place(grid=grid, community=community, street=street) is inside


def test_empty_environment_variables_mean_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FIREGRID_DB_URL", "FIREGRID_MQTT_URL", "FIREGRID_HTTP", "FIREGRID_DATA_DIR"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.db_url is None
    assert settings.mqtt_url is None
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    # The default is absolute: the checkout's var/ when running from one (firegrid.settings).
    assert settings.data_dir == Path(__file__).resolve().parents[2] / "var"


def test_environment_variables_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREGRID_DB_URL", "postgresql://u:p@db:5432/fg")
    monkeypatch.setenv("FIREGRID_MQTT_URL", "mqtts://u:p@broker:8883")
    monkeypatch.setenv("FIREGRID_HTTP", "0.0.0.0:9000")
    monkeypatch.setenv("FIREGRID_DATA_DIR", "/srv/fg")
    settings = Settings()
    assert settings.db_url is not None
    assert settings.db_url.get_secret_value() == "postgresql://u:p@db:5432/fg"
    assert "u:p" not in repr(settings)  # secrets never appear in a log of the settings
    assert (settings.http.host, settings.http.port) == ("0.0.0.0", 9000)
    assert str(settings.data_dir) == "/srv/fg"
    flagged = Settings(http="127.0.0.1:8081")  # flags override the environment
    assert flagged.http.port == 8081
