"""Find the embedded services another live FireGrid runs on a data directory."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg

from firegrid.embedded._proc import owned_by_other_live_process
from firegrid.embedded.accounts import own_accounts, with_user
from firegrid.embedded.postgres import libpq_url, socket_dir_for


def running_urls(data_dir: Path) -> tuple[str | None, str | None]:
    """Return (database URL, broker URL) of services another live FireGrid runs on ``data_dir``.

    ``data_dir`` is FireGrid's data directory (``postgres/`` and ``broker/`` inside). A CLI
    command started beside ``firegrid up`` uses these instead of starting the services itself,
    which would take the running servers for a crash's leftovers.
    """
    db_url = broker_url = None
    pg_dir, broker_dir = data_dir.resolve() / "postgres", data_dir.resolve() / "broker"
    if owned_by_other_live_process(pg_dir):
        url = libpq_url(socket_dir_for(pg_dir), "firegrid")
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=3).close()
            db_url = url
    if owned_by_other_live_process(broker_dir):
        conf = broker_dir / "mosquitto.conf"
        with contextlib.suppress(OSError, IndexError):
            lines = conf.read_text().splitlines()
            port = next(line.split()[1] for line in lines if line.startswith("listener "))
            broker_url = f"mqtt://127.0.0.1:{port}"
            # A broker started with device credentials refuses anonymous clients: connect as
            # FireGrid's service client, whose password that start left beside the broker.
            own = own_accounts(broker_dir, create=False)
            if own is not None and "allow_anonymous false" in lines:
                broker_url = with_user(broker_url, own.service_username, own.service_password)
    return db_url, broker_url
