"""Resolve the broker and database to use: configured ones, or the embedded defaults."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from firegrid.settings import Settings
from infra.dynsec import DynsecAdmin

log = logging.getLogger(__name__)


class AlreadyRunningError(RuntimeError):
    """Another FireGrid process runs the embedded services on this data directory."""


class HalfConfiguredError(ValueError):
    """One of the database and the broker is configured and the other is not: exit 2."""


class BrokerPortTakenError(RuntimeError):
    """The embedded broker's port is taken by another process: exit 1, nothing started."""


@dataclass
class Services:
    """Where the database and broker are, and the embedded ones to stop on exit."""

    db_url: str
    mqtt_url: str
    embedded: list[Any] = field(default_factory=list)
    # True when db_url is FireGrid's own PostgreSQL: only there may the demo fleet register its
    # devices, units, staff and grids, and an admin token be printed.
    embedded_db: bool = False
    # Administers the broker's dynamic-security plugin: FireGrid's own broker, or a configured
    # one with FIREGRID_BROKER__ADMIN_*; None: device credentials are the operator's job.
    broker_admin: DynsecAdmin | None = None

    def stop(self) -> None:
        """Stop what we started, newest first."""
        for handle in reversed(self.embedded):
            handle.stop()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def embedded_default(settings: Settings) -> bool:
    """Tell whether ``firegrid up`` runs on the embedded broker and database (neither configured).

    Raise ``HalfConfiguredError`` when only one is configured: the embedded half would be a
    private broker no device can reach, or a throwaway database the real broker's data lands
    in. Either way the operator forgot a variable, and starting anything would write to
    services they did not mean.
    """
    has_db, has_mqtt = settings.db_url is not None, settings.mqtt_url is not None
    if has_db != has_mqtt:
        given, missing = ("database", "broker") if has_db else ("broker", "database")
        flag = "FIREGRID_MQTT_URL or --mqtt-url" if has_db else "FIREGRID_DB_URL or --db-url"
        raise HalfConfiguredError(
            f"a {given} is configured but no {missing} ({flag}): configure both, or neither"
            " to try FireGrid on its embedded services"
        )
    return not has_db


def _refuse_a_second(settings: Settings) -> None:
    """Refuse to start the embedded services where another live FireGrid runs them."""
    from firegrid.embedded import running_urls

    running, _ = running_urls(settings.data_dir)
    if running is not None:  # `firegrid up`: one FireGrid per data directory
        raise AlreadyRunningError(
            f"FireGrid already runs the embedded services in {settings.data_dir.resolve()}:"
            " stop it first, or give this one another FIREGRID_DATA_DIR"
        )


def resolve_db(settings: Settings, services: Services | None = None) -> str:
    """Return the database URL: configured, or the embedded one.

    ``firegrid up`` (``services`` given) starts the embedded PostgreSQL; any other command
    (``services`` None) uses the running FireGrid's (``firegrid.instance.locate``) and never
    starts one: a second, empty database would take its imports and tokens unseen.
    """
    if settings.db_url is not None:
        return settings.db_url.get_secret_value()
    if services is None:
        from firegrid.instance import locate

        return locate(settings).db_url
    from firegrid.embedded import start_postgres

    _refuse_a_second(settings)

    data = settings.data_dir.resolve() / "postgres"
    data.parent.mkdir(parents=True, exist_ok=True)
    server = start_postgres(data)
    log.info("embedded PostgreSQL: data in %s", data)
    print(f"PostgreSQL (embedded): data in {data}")
    if services is not None:
        services.embedded.append(server)
        services.embedded_db = True
    return server.url


def resolve(settings: Settings, *, need_broker: bool = True) -> Services:
    """Start whatever is not configured and return where everything is.

    With ``need_broker`` (``firegrid up``) both must be configured or neither: a half
    configuration raises ``HalfConfiguredError`` before anything is started or written.
    """
    if need_broker:
        embedded_default(settings)
    port = settings.embedded.mqtt_port
    broker_dir = settings.data_dir.resolve() / "broker"
    if need_broker and settings.mqtt_url is None and port and not _port_free(port):
        from firegrid.embedded.broker import leftover_pid

        # Before the database starts: a port taken is said at once, and nothing is left running.
        # A crashed FireGrid's own broker on this data directory is no obstacle: it is stopped.
        _refuse_a_second(settings)  # most likely taken by the FireGrid running here: say so
        if leftover_pid(broker_dir) is None:
            raise BrokerPortTakenError(
                f"the embedded broker's port 127.0.0.1:{port} is taken (another FireGrid, or"
                " another broker?): stop it, or set FIREGRID_EMBEDDED__MQTT_PORT to a free port"
            )
    services = Services(db_url="", mqtt_url="")
    services.db_url = resolve_db(settings, services)
    if settings.mqtt_url is not None:
        from firegrid.broker_auth import configured_admin

        services.mqtt_url = settings.mqtt_url.get_secret_value()
        services.broker_admin = configured_admin(settings)
    elif need_broker:
        _start_embedded_broker(settings, services)
    return services


def _start_embedded_broker(settings: Settings, services: Services) -> None:
    """Start FireGrid's Mosquitto with device credentials; FireGrid connects as its service."""
    from firegrid.broker_auth import write_dynsec_config
    from firegrid.embedded import start_broker
    from firegrid.embedded.accounts import own_accounts, with_user

    data = settings.data_dir.resolve() / "broker"
    data.mkdir(parents=True, exist_ok=True)
    own = own_accounts(data)
    assert own is not None  # created when missing
    dynsec = write_dynsec_config(
        data, db_url=services.db_url, own=own, prefix=settings.ingest.topic_prefix
    )
    # A stable, documented port (devices and the printed first command name it); 0: any free one.
    port = settings.embedded.mqtt_port or None
    broker = start_broker(data, port=port, dynsec_config=dynsec)
    services.embedded.append(broker)
    services.mqtt_url = with_user(broker.url, own.service_username, own.service_password)
    services.broker_admin = DynsecAdmin(
        url=broker.url, username=own.admin_username, password=own.admin_password
    )
    print(
        f"MQTT broker (embedded Mosquitto): {broker.url}, data in {data}; devices connect with"
        " their own credentials (`firegrid devices credentials rotate ID` prints a new one)"
    )


def broker_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Tell whether the broker's port accepts TCP connections."""
    parts = urlsplit(url)
    default_port = 8883 if parts.scheme in {"mqtts", "ssl"} else 1883
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=timeout_s
        ):
            return True
    except OSError:
        return False
