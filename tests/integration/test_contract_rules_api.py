"""CONTRACT §4 areas and §5 CLI behaviour: grid areas compared by level, one-line usage errors,
token areas, row errors named on stderr, and no credentials in what the CLI prints."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.tokens import create_token
from firegrid.cli import main

COMMUNITY = "310115005003"


def _headers(db_url: str, role: str, areas: list[str]) -> dict[str, str]:
    with psycopg.connect(db_url) as conn:
        token = create_token(conn, role=role, areas=areas)
    return {"Authorization": f"Bearer {token}"}


def _hazard(db_url: str, *, device: str, grid: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "INSERT INTO hazards (rule_id, kind, severity, status, subject_type, subject_id,"
            " key, device_id, grid_code, community_code, street_code, opened_at, episode)"
            " VALUES ('hydrant_municipal_low', 'threshold', 'warning', 'open', 'device', %s,"
            " %s, %s, %s, %s, %s, now(), 1) RETURNING id",
            (device, device + "/pressure_mpa", device, grid, grid[:12], grid[:9]),
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_a_short_grid_code_does_not_cover_longer_grids_of_its_community(
    client: TestClient, db_url: str
) -> None:
    # DOMAIN §1: 14-digit (national) and 15-digit (DB11) grid codes coexist; grid 01 of the
    # 14-digit form is a string prefix of grids 010-019 of the 15-digit one, but not their area.
    tag = uuid.uuid4().hex[:6]
    short = _hazard(db_url, device=f"G{tag}a", grid=COMMUNITY + "01")
    longer = _hazard(db_url, device=f"G{tag}b", grid=COMMUNITY + "012")
    op = _headers(db_url, "operator", [COMMUNITY + "01"])
    seen = [h["id"] for h in client.get("/api/v1/hazards?limit=1000", headers=op).json()["items"]]
    assert short in seen
    assert longer not in seen
    assert client.get(f"/api/v1/hazards/{longer}", headers=op).status_code == 404
    admin = _headers(db_url, "admin", [])
    answer = client.get(f"/api/v1/hazards?grid={COMMUNITY}01&limit=1000", headers=admin)
    got = [h["id"] for h in answer.json()["items"]]
    assert short in got
    assert longer not in got
    by_community = client.get(f"/api/v1/hazards?grid={COMMUNITY}&limit=1000", headers=admin)
    assert {short, longer} <= {h["id"] for h in by_community.json()["items"]}


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["token"],
        ["token", "create"],
        ["up", "--role", "bogus"],
        ["rules", "replay", "--from", "2026-11-24T16:00:00Z"],
    ],
)
def test_usage_errors_exit_2_with_one_line_on_stderr(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("firegrid")


def test_token_areas_are_codes_and_an_operator_needs_one(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db-url", db_url, "token", "create"]
    assert main([*base, "--role", "operator"]) == 2
    assert "--area" in _one_line(capsys.readouterr().err)
    assert main([*base, "--role", "operator", "--area", "3101-15"]) == 2
    assert "3101-15" in _one_line(capsys.readouterr().err)
    assert main([*base, "--role", "operator", "--area", "310115005", "--area", COMMUNITY]) == 0
    assert capsys.readouterr().out.strip().startswith("fg_")
    assert main([*base, "--role", "admin"]) == 0  # no area: everything, for other roles


def test_registry_rows_with_errors_name_the_reason_on_stderr(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    devices = tmp_path / "devices.csv"
    devices.write_text(f"device_id,kind\n{tag}-ok,hydrant\n{tag}-bad,toaster\n")
    assert main(["--db-url", db_url, "devices", "import", str(devices)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["created"] == 1
    assert "1 row" in _one_line(captured.err)


def test_broker_credentials_never_reach_stderr(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 refuses at once: the error names the broker, never its password.
    url = "mqtt://fguser:s3cr3t-pw@127.0.0.1:1"
    code = main(["--db-url", db_url, "--mqtt-url", url, "simulate", "hydrant_threshold"])
    assert code == 1
    captured = capsys.readouterr()
    err = _one_line(captured.err)
    assert "s3cr3t-pw" not in err + captured.out
    assert "127.0.0.1:1" in err


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--mqtt-url", "fguser:s3cr3t-pw@broker.example:1883"),  # no scheme
        ("--mqtt-url", "http://fguser:s3cr3t-pw@broker.example"),
        ("--mqtt-url", "mqtt://"),
        ("--db-url", "host=db password=s3cr3t-pw port=notaport"),
        ("--db-url", "postgresql://fguser:s3cr3t-pw@db:notaport/fg"),
        ("--http", "8080"),
    ],
)
def test_a_malformed_setting_is_a_usage_error_without_its_secret(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # ``simulate --list`` touches no service: only the settings are judged.
    assert main([flag, value, "simulate", "--list"]) == 2
    captured = capsys.readouterr()
    assert "s3cr3t-pw" not in captured.err + captured.out
    assert _one_line(captured.err).startswith("firegrid: setting")
