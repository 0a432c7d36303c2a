"""Safe defaults in the settings: an absolute data directory, and the TimescaleDB preload check."""

from __future__ import annotations

from pathlib import Path

import pytest

from firegrid import settings as settings_module
from firegrid.db import preloads_timescale
from firegrid.settings import Settings, default_data_dir, default_state_file

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_default_data_directory_is_the_checkouts_var_wherever_firegrid_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIREGRID_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # a command run from another directory finds the same services
    assert Settings().data_dir == CHECKOUT / "var"
    assert Settings().data_dir.is_absolute()


def test_installed_as_a_package_the_default_is_the_users_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Where an installed package lives: site-packages, with no pyproject.toml or scripts/up.
    monkeypatch.setattr(settings_module, "_CHECKOUT", tmp_path / "site-packages")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "firegrid"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec ignores it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "firegrid"


def test_a_relative_data_directory_is_made_absolute_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIREGRID_DATA_DIR", "fg-data")
    assert Settings().data_dir == tmp_path / "fg-data"


@pytest.mark.parametrize(
    ("setting", "preloaded"),
    [
        ("", False),
        ("pg_stat_statements", False),
        ("timescaledb", True),
        ("pg_stat_statements, timescaledb", True),
        ('"timescaledb",auto_explain', True),
        ("$libdir/timescaledb.so", True),
        ("timescaledb_toolkit", False),
    ],
)
def test_the_preload_setting_is_read_as_a_list(setting: str, preloaded: bool) -> None:
    assert preloads_timescale(setting) is preloaded


def test_the_instance_record_lives_in_the_users_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FIREGRID_STATE_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)  # wherever the command runs
    assert Settings().state_file == tmp_path / "xdg" / "firegrid" / "instance.json"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the XDG spec ignores it
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_file() == tmp_path / "home" / ".local" / "state" / "firegrid" / (
        "instance.json"
    )


def test_the_embedded_broker_port_is_fixed_and_not_1883(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREGRID_EMBEDDED__MQTT_PORT", raising=False)
    assert Settings().embedded.mqtt_port == 1884
    monkeypatch.setenv("FIREGRID_EMBEDDED__MQTT_PORT", "18830")
    assert Settings().embedded.mqtt_port == 18830
