"""The firegrid CLI: registry imports, tokens, exit codes (CONTRACT §5)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg

from tests.fix_db import create_database, drop_database
from tests.integration.cli_support import run_cli


def test_devices_and_units_import_from_csv_and_json(db_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    units = tmp_path / "units.json"
    units.write_text(
        json.dumps(
            [
                {
                    "unit_id": f"U-{tag}",
                    "name": "金桥三村物业",
                    "level": 2,
                    "lat": 31.2481,
                    "lon": 121.5875,
                }
            ]
        ),
        encoding="utf-8",
    )
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "device_id,kind,unit_id,heartbeat_s\n"
        f"{tag}-1,hydrant,U-{tag},3600\n{tag}-2,smoke,U-{tag},86400\n"
    )
    done = run_cli("units", "import", str(units), db_url=db_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1
    done = run_cli("devices", "import", str(devices), db_url=db_url)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert (answer["created"], answer["updated"], answer["errors"]) == (2, 0, [])
    # The hydrant row gives no hydrant_class: imported, with a warning saying what that costs.
    assert [(w["device_id"], w["field"]) for w in answer["warnings"]] == [
        (f"{tag}-1", "hydrant_class")
    ]
    again = run_cli("devices", "import", str(devices), db_url=db_url)
    assert json.loads(again.stdout)["updated"] == 2


def test_rows_with_errors_exit_2_and_keep_the_valid_rows(db_url: str, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    devices = tmp_path / "devices.csv"
    devices.write_text(f"device_id,kind\n{tag}-ok,hydrant\n{tag}-bad,toaster\n")
    done = run_cli("devices", "import", str(devices), db_url=db_url)
    assert done.returncode == 2
    body = json.loads(done.stdout)
    assert body["created"] == 1
    assert body["errors"][0]["row"] == 2


def test_unreadable_input_is_a_one_line_usage_error(db_url: str, tmp_path: Path) -> None:
    done = run_cli("devices", "import", str(tmp_path / "missing.csv"), db_url=db_url)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cannot read" in done.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"not": "an array"}')
    done = run_cli("devices", "import", str(garbage), db_url=db_url)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1


def test_token_create_prints_a_working_token_once(db_url: str) -> None:
    done = run_cli("token", "create", "--role", "operator", "--area", "310115005", db_url=db_url)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("fg_")
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT role, areas FROM api_tokens WHERE note = '' ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row == ("operator", ["310115005"])
    bad = run_cli("token", "create", "--role", "emperor", db_url=db_url)
    assert bad.returncode == 2


def test_token_create_names_a_staff_member_who_must_exist(db_url: str) -> None:
    staff_id = f"W-{uuid.uuid4().hex[:8]}"
    unknown = run_cli(
        "token", "create", "--role", "grid_worker", "--staff", staff_id, db_url=db_url
    )
    assert unknown.returncode == 2
    assert staff_id in unknown.stderr
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO staff (staff_id, name, role) VALUES (%s, 'w', 'grid_worker')", (staff_id,)
        )
    done = run_cli("token", "create", "--role", "grid_worker", "--staff", staff_id, db_url=db_url)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT role, staff_id FROM api_tokens WHERE token_sha256 = sha256(%s::bytea)",
            (done.stdout.strip().encode(),),
        ).fetchone()
    assert row == ("grid_worker", staff_id)


def test_a_newer_schema_is_refused_with_exit_1(pg_admin_url: str) -> None:
    name = f"fg_newer_{uuid.uuid4().hex[:6]}"
    url = create_database(pg_admin_url, name)
    try:
        assert run_cli("migrate", db_url=url).returncode == 0
        with psycopg.connect(url) as conn:
            conn.execute(
                "INSERT INTO fg_schema_version (version, name, timescale) "
                "VALUES (999, 'from the future', false)"
            )
        done = run_cli("migrate", db_url=url)
        assert done.returncode == 1
        assert "schema is version 999" in done.stderr
    finally:
        drop_database(pg_admin_url, name)
