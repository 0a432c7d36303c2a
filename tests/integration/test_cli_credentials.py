"""`firegrid devices credentials ...` on a configured database, no broker administered."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import psycopg

from devices.credentials import hash_secret
from tests.integration.cli_support import run_cli


def _cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--data-dir", str(tmp_path), *args, db_url=db_url)


def _stored(db_url: str, device: str) -> tuple[str, str, int, bool]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT password_hash, salt, iterations, disabled_at IS NOT NULL"
            " FROM device_credentials WHERE username = %s",
            (device,),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_import_rotate_disable_enable_delete(db_url: str, tmp_path: Path) -> None:
    device = f"CLI-{uuid.uuid4().hex[:8]}"
    registry = tmp_path / "devices.csv"
    registry.write_text(f"device_id,kind\n{device},hydrant\n")
    imported = _cli(db_url, tmp_path, "devices", "import", str(registry))
    assert imported.returncode == 0, imported.stderr
    [cred] = json.loads(imported.stdout)["credentials"]
    assert "shown this once" in imported.stderr
    assert cred["password"] not in imported.stderr

    rotated = _cli(db_url, tmp_path, "devices", "credentials", "rotate", device)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["username"] == device
    assert new["password"] != cred["password"]
    digest, salt, iterations, disabled = _stored(db_url, device)
    assert digest == hash_secret(new["password"], salt=salt, iterations=iterations)
    assert not disabled
    assert "next start" in rotated.stderr  # no broker FireGrid administers is running

    assert _cli(db_url, tmp_path, "devices", "credentials", "disable", device).returncode == 0
    assert _stored(db_url, device)[3]
    assert _cli(db_url, tmp_path, "devices", "credentials", "enable", device).returncode == 0
    assert not _stored(db_url, device)[3]
    deleted = _cli(db_url, tmp_path, "devices", "credentials", "delete", device)
    assert deleted.returncode == 0, deleted.stderr
    again = _cli(db_url, tmp_path, "devices", "credentials", "disable", device)
    assert again.returncode == 2
    assert again.stderr.startswith("firegrid: no device or terminal")


def test_an_unknown_id_is_a_usage_error(db_url: str, tmp_path: Path) -> None:
    done = _cli(db_url, tmp_path, "devices", "credentials", "rotate", "NOBODY-HERE")
    assert done.returncode == 2
    assert done.stderr == "firegrid: no device or terminal 'NOBODY-HERE' in the registry\n"
    bad = _cli(db_url, tmp_path, "devices", "credentials", "shred", "X")
    assert bad.returncode == 2
