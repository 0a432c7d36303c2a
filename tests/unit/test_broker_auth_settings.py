"""Who enforces device credentials, said once at start (issue 10 point 1)."""

from __future__ import annotations

import logging

import pytest

from firegrid.broker_auth import accounts_for, configured_admin, say_who_enforces
from firegrid.settings import Settings

DB = "postgresql://firegrid@db.example:5432/firegrid"
BROKER = "mqtt://ingest:secret@broker.example:1883"


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "firegrid.broker_auth"]


def test_an_outside_broker_without_a_plugin_admin_is_the_operators_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(db_url=DB, mqtt_url=BROKER)
    admin = configured_admin(settings)
    assert admin is None
    assert accounts_for(admin, settings) is None
    with caplog.at_level(logging.INFO):
        say_who_enforces(settings, admin)
    [line] = _said(caplog)
    assert "broker operator's job" in line
    assert "FIREGRID_BROKER__ADMIN_USERNAME" in line
    assert "secret" not in line  # the URL's password never reaches the log


def test_an_outside_broker_with_a_plugin_admin_is_administered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        db_url=DB,
        mqtt_url=BROKER,
        broker={"admin_username": "dynsec-admin", "admin_password": "pw"},
    )
    admin = configured_admin(settings)
    assert admin is not None
    assert (admin.url, admin.username, admin.password) == (BROKER, "dynsec-admin", "pw")
    assert "pw" not in repr(admin)
    assert accounts_for(admin, settings) is not None
    with caplog.at_level(logging.INFO):
        say_who_enforces(settings, admin)
    assert _said(caplog) == []


def test_the_embedded_broker_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        say_who_enforces(Settings(), None)
    assert _said(caplog) == []
