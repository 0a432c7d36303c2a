"""Who enforces device credentials: FireGrid's own broker, a configured one, or its operator.

- The embedded Mosquitto runs the dynamic-security plugin. Its state file is written from the
  database at every start (``write_dynsec_config``), so the broker always starts with exactly
  the registry's credentials, passwords included; while it runs, changes go to it over its
  control topic (``devices.broker_accounts.DynsecAccounts``), and it saves them to the file.
- A configured Mosquitto with the plugin: FireGrid sends the same commands as the admin named
  by ``FIREGRID_BROKER__ADMIN_USERNAME`` / ``__ADMIN_PASSWORD``. It cannot restore passwords
  into that broker's plugin (only hashes are kept), so it never rewrites that broker's state.
- Any other broker (EMQX reading FireGrid's tables, a broker with its own password file): the
  database still keeps each credential's hash, and enforcing it is the operator's job, said
  once at start (``say_who_enforces``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import psycopg

from devices.broker_accounts import BrokerAccounts, DynsecAccounts, dynsec_config
from devices.credentials import hashed, stored_credentials
from firegrid.embedded.accounts import OwnAccounts
from firegrid.settings import Settings
from infra.dynsec import DynsecAdmin

log = logging.getLogger(__name__)

DYNSEC_FILE = "dynamic-security.json"


def write_dynsec_config(broker_dir: Path, *, db_url: str, own: OwnAccounts, prefix: str) -> Path:
    """Write the plugin's state file from the database's credentials; return its path."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Before the first migration there is no table, and so no device credential yet.
        has_table = conn.execute("SELECT to_regclass('device_credentials')").fetchone()
        creds = stored_credentials(conn) if has_table and has_table[0] else []
    config = dynsec_config(
        creds,
        prefix=prefix,
        service=(own.service_username, hashed(own.service_password)),
        admin=(own.admin_username, hashed(own.admin_password)),
    )
    path = broker_dir / DYNSEC_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle, indent=1)
    return path


def configured_admin(settings: Settings) -> DynsecAdmin | None:
    """Return the admin of a configured broker's plugin, when one is configured."""
    broker = settings.broker
    if settings.mqtt_url is None or broker.admin_username is None or broker.admin_password is None:
        return None
    return DynsecAdmin(
        url=settings.mqtt_url.get_secret_value(),
        username=broker.admin_username,
        password=broker.admin_password.get_secret_value(),
    )


def accounts_for(admin: DynsecAdmin | None, settings: Settings) -> BrokerAccounts | None:
    """Return where credential changes go: the plugin ``admin`` administers, or nowhere."""
    if admin is None:
        return None
    return DynsecAccounts(admin, prefix=settings.ingest.topic_prefix)


def say_who_enforces(settings: Settings, admin: DynsecAdmin | None) -> None:
    """Say once, at start, when device credentials are the broker operator's job."""
    if settings.mqtt_url is not None and admin is None:
        log.warning(
            "device credentials: the configured broker is not FireGrid's own and no admin of its"
            " dynamic-security plugin is set (FIREGRID_BROKER__ADMIN_USERNAME and"
            " __ADMIN_PASSWORD), so enforcing them is the broker operator's job; FireGrid keeps"
            " each one's hash in its database, where EMQX can read them"
            " (docs/integrators/broker-auth.md)"
        )


def running_accounts(settings: Settings) -> BrokerAccounts | None:
    """Return where a CLI command sends credential changes: the running broker, if FireGrid's.

    A configured broker's plugin, when its admin is configured; else the embedded broker of a
    ``firegrid up`` running on this data directory. None when neither: the embedded broker
    takes the change from the database at its next start.
    """
    if settings.mqtt_url is not None:
        return accounts_for(configured_admin(settings), settings)
    if settings.db_url is not None:  # a configured database is never the embedded broker's
        return None
    from firegrid.embedded import running_urls
    from firegrid.embedded.accounts import own_accounts

    _, broker_url = running_urls(settings.data_dir)
    own = own_accounts(settings.data_dir.resolve() / "broker", create=False)
    if broker_url is None or own is None:
        return None
    admin = DynsecAdmin(url=broker_url, username=own.admin_username, password=own.admin_password)
    return accounts_for(admin, settings)
