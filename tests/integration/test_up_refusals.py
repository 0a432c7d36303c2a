"""`firegrid up` refuses what it cannot run safely, at start and before writing anything.

CONTRACT §5: exit 2 and one line on stderr. A half configuration (a database but no broker, or
the reverse), demo simulators on a configured database, or a role that is unknown or not built
yet are refused before any service starts, any migration runs or any row is written.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fix_db import create_database, drop_database

REFUSAL_TIMEOUT_S = 60  # a refusal takes the time to import the CLI; starting takes longer

# What `firegrid up` would write into a configured database: the demo fleet and grids, and the
# printed admin token.
_WRITTEN_BY_UP = ("devices", "key_units", "staff", "grid_versions", "api_tokens")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env |= {
        "FIREGRID_DATA_DIR": str(tmp_path / "var"),
        "FIREGRID_HTTP": f"127.0.0.1:{_free_port()}",
        "FIREGRID_EMBEDDED__MQTT_PORT": "0",
        **settings,
    }
    argv = [sys.executable, "-m", "firegrid.cli", "up", *args]
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as up:
        try:
            out, err = up.communicate(timeout=REFUSAL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # It started instead of refusing: stop it as an operator would (SIGTERM), so that
            # it stops the embedded services it started too.
            up.send_signal(signal.SIGTERM)
            out, err = up.communicate(timeout=60)
            pytest.fail(f"firegrid up started instead of refusing:\n{out}{err}")
    return subprocess.CompletedProcess(argv, up.returncode, out, err)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    return [str(r[0]) for r in rows]


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {}
        for table in _WRITTEN_BY_UP:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            counts[table] = int(row[0]) if row else -1
    return counts


@pytest.fixture
def empty_db(pg_admin_url: str) -> Iterator[str]:
    """A database with no schema at all, as a new production database is."""
    name = f"fg_empty_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name)
    yield url
    drop_database(pg_admin_url, name)


def test_a_database_without_a_broker_exits_2_and_migrates_nothing(
    empty_db: str, tmp_path: Path
) -> None:
    done = _up(tmp_path, FIREGRID_DB_URL=empty_db)
    assert done.returncode == 2, done.stdout + done.stderr
    line = _one_line(done.stderr)
    assert line.startswith("firegrid: ")
    assert "FIREGRID_MQTT_URL" in line
    assert _tables(empty_db) == []  # not even the schema-version table
    assert not (tmp_path / "var").exists()  # no private broker started either
    assert done.stdout == ""


def test_a_database_without_a_broker_leaves_its_rows_alone(db_url: str, tmp_path: Path) -> None:
    before = _counts(db_url)
    done = _up(tmp_path, FIREGRID_DB_URL=db_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FIREGRID_MQTT_URL" in _one_line(done.stderr)
    assert _counts(db_url) == before  # no demo devices, units, staff or grids; no token


def test_a_broker_without_a_database_exits_2_and_starts_nothing(
    broker_url: str, tmp_path: Path
) -> None:
    done = _up(tmp_path, FIREGRID_MQTT_URL=broker_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FIREGRID_DB_URL" in _one_line(done.stderr)
    assert not (tmp_path / "var").exists()  # no embedded PostgreSQL was initialised


def test_demo_simulators_are_refused_on_a_configured_database(
    db_url: str, broker_url: str, tmp_path: Path
) -> None:
    before = _counts(db_url)
    done = _up(tmp_path, "--simulate", FIREGRID_DB_URL=db_url, FIREGRID_MQTT_URL=broker_url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--simulate" in _one_line(done.stderr)
    assert _counts(db_url) == before


@pytest.mark.parametrize(
    ("role", "reason"),
    [("bogus", "unknown role"), ("", "unknown role")],  # gateway is built (issue 11)
)
def test_a_role_that_is_unknown_or_not_built_exits_2(
    tmp_path: Path, role: str, reason: str
) -> None:
    done = _up(tmp_path, "--role", "ingest", "--role", role)
    assert done.returncode == 2, done.stdout + done.stderr
    line = _one_line(done.stderr)
    assert reason in line
    assert "ingest, rules, dispatch, api" in line  # says which roles there are
    assert not (tmp_path / "var").exists()  # refused before the embedded services start


def test_commands_other_than_up_need_only_the_database(db_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREGRID_")}
    env |= {"FIREGRID_DB_URL": db_url, "FIREGRID_DATA_DIR": str(tmp_path / "var")}
    devices = tmp_path / "devices.json"
    devices.write_text(f'[{{"device_id": "ONLY-DB-{uuid.uuid4().hex[:6]}", "kind": "smoke"}}]')
    for args in (["token", "create", "--role", "admin"], ["devices", "import", str(devices)]):
        done = subprocess.run(
            [sys.executable, "-m", "firegrid.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / "var").exists()  # and they started no embedded service


def test_the_gateway_role_without_where_to_listen_exits_2(tmp_path: Path) -> None:
    done = _up(tmp_path, "--role", "gateway")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FIREGRID_GB26875" in _one_line(done.stderr)
    assert not (tmp_path / "var").exists()  # refused before the embedded services start
    bad = _up(tmp_path, "--role", "gateway", FIREGRID_GB26875="nowhere")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "host:port" in _one_line(bad.stderr)
