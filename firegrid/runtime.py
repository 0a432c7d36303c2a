"""Run the roles FireGrid runs in one process, each under the supervisor.

ingest (with storage maintenance), the demo fleet, rules and the API are roles (``infra.roles``);
the ``Supervisor`` restarts one that fails and, when one keeps failing, stops them all, and
``run`` returns 1 so that a service manager starts the process again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import psycopg
from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from dispatch.exceptions import DispatchError
from dispatch.indicator_service import patrol_params_of
from dispatch.message_roles import message_role_factories
from dispatch.models import Deadlines
from firegrid.api_role import ApiRole
from firegrid.broker_auth import accounts_for, say_who_enforces
from firegrid.db import migrate
from firegrid.first_steps import announce
from firegrid.instance import forget
from firegrid.maintenance import StorageMaintenance
from firegrid.services import Services, broker_reachable, resolve
from firegrid.settings import Settings
from gateway.models import ConnectionStats
from gateway.role import GatewayRole
from gateway.views import ConnectionsSource
from infra.publisher import MqttPublisher
from infra.roles import Role, RoleFactory, RoleHealth, Supervisor
from ingest.role import IngestService
from rules.exceptions import RulesError
from rules.kinds.patrol import PatrolParams

log = logging.getLogger(__name__)

# Given each role's name and factory, return the factory to use: tests wrap the real roles to
# inject failures; production passes none.
RoleHook = Callable[[str, RoleFactory], RoleFactory]


def run(
    settings: Settings,
    *,
    roles: Sequence[str],
    simulate: bool | None,
    role_hook: RoleHook | None = None,
) -> int:
    """Run ``roles`` until interrupted (0) or until the supervisor gives up (1)."""
    stop = threading.Event()
    _stop_on_signals(stop)
    try:  # before anything starts: a broken deadline table or calendar file is a usage error
        deadlines = _deadlines(settings) if {"dispatch", "api"} & set(roles) else None
    except DispatchError as exc:
        print(f"firegrid: {exc}", file=sys.stderr)
        return 2
    services = resolve(settings, need_broker=True)
    say_who_enforces(settings, services.broker_admin)
    # Outside the supervisor's replacements: the outbound MQTT session (one per process, which
    # the inbox roles share and paho reconnects), started first and stopped last.
    unsupervised: list[Role] = []
    gave_up: list[str] = []
    recorded = False  # the state file names this process's embedded instance
    demo_secrets: dict[str, str] = {}  # the demo devices' broker secrets, by device ID
    supervisor: Supervisor | None = None

    def give_up(reason: str) -> None:
        gave_up.append(reason)
        stop.set()

    try:
        migrate(services.db_url, storage=settings.storage)
        # The embedded services are the "try it" setup: demo devices and a printed token come
        # with them, and never go into a configured database (the CLI refuses --simulate there).
        embedded = services.embedded_db
        if not embedded and "ingest" in roles:
            threading.Thread(
                target=_check_broker, args=(services.mqtt_url,), name="broker-check", daemon=True
            ).start()
        publisher = (
            MqttPublisher(services.mqtt_url, settings=settings.publisher)
            if "dispatch" in roles
            else None
        )
        unsupervised += [publisher] if publisher is not None else []

        def role_health() -> dict[str, RoleHealth]:
            healths = supervisor.health() if supervisor is not None else {}
            return {**healths, **{r.name: r.health() for r in unsupervised}}

        factories = _factories(
            settings,
            services,
            roles=roles,
            # Demo rows go into an embedded database only, whoever calls this.
            simulate=embedded and simulate is not False,
            role_health=role_health,
            deadlines=deadlines,
            publisher=publisher,
            demo_secrets=demo_secrets,
        )
        if role_hook is not None:
            factories = {name: role_hook(name, factory) for name, factory in factories.items()}
        supervisor = Supervisor(factories, settings=settings.roles, on_give_up=give_up)
        token = _print_demo_token(services) if "api" in roles and embedded else None
        if stop.is_set():  # interrupted while the services started or the schema migrated
            return 0
        for role in unsupervised:
            role.start()
        supervisor.start()
        recorded = announce(
            settings,
            services,
            api="api" in roles,
            token=token,
            demo="demo" in factories,
            secrets=demo_secrets,
        )
        while not stop.wait(1.0):
            pass
    finally:
        if recorded:
            forget(settings.state_file, pid=os.getpid())
        if supervisor is not None:
            supervisor.stop()
        for role in reversed(unsupervised):
            role.stop()
        services.stop()
    if gave_up:
        print(f"firegrid: stopping: {gave_up[0]}", file=sys.stderr)
        return 1
    return 0


def _factories(
    settings: Settings,
    services: Services,
    *,
    roles: Sequence[str],
    simulate: bool,
    role_health: Callable[[], object],
    deadlines: Deadlines | None = None,
    publisher: MqttPublisher | None = None,
    demo_secrets: dict[str, str] | None = None,
) -> dict[str, RoleFactory]:
    """Return a factory per role to run, in start order.

    ``demo_secrets`` gets the demo devices' broker secrets each time the demo role starts (the
    printed first command publishes as one of them).
    """
    factories: dict[str, RoleFactory] = {}
    if "ingest" in roles:

        def ingest() -> Role:
            return IngestService(
                mqtt_url=services.mqtt_url,
                db_url=services.db_url,
                settings=settings.ingest,
                storage=settings.storage,
                data_dir=settings.data_dir,
            )

        factories["ingest"] = ingest
        factories["maintenance"] = lambda: StorageMaintenance(
            db_url=services.db_url, retention=settings.storage.records
        )
    running_gateway: list[GatewayRole] = []  # the instance now running: restarts replace it
    if "gateway" in roles and settings.gb26875:
        listen = settings.gb26875

        def gateway() -> Role:
            role = GatewayRole(
                listen=listen,
                db_url=services.db_url,
                settings=settings.gateway,
                ingest=settings.ingest,
                storage=settings.storage,
            )
            running_gateway[:] = [role]
            return role

        factories["gateway"] = gateway
    if simulate:
        from firegrid.demo import DemoFleet

        factories["demo"] = lambda: DemoFleet(
            db_url=services.db_url,
            mqtt_url=services.mqtt_url,
            prefix=settings.ingest.topic_prefix,
            gateway=settings.gb26875 if "gateway" in factories else None,
            accounts=accounts_for(services.broker_admin, settings),
            secrets_out=demo_secrets,
        )
    # After the demo registered its devices, so the first daily look already sees them.
    if "rules" in roles:
        from rules.flows import RulesService

        factories["rules"] = lambda: RulesService(db_url=services.db_url, settings=settings.rules)
    if "dispatch" in roles:
        from dispatch.flows import DispatchService

        factories["dispatch"] = lambda: DispatchService(
            db_url=services.db_url, settings=settings.dispatch, deadlines=deadlines
        )
        if publisher is not None:
            factories.update(
                message_role_factories(
                    db_url=services.db_url,
                    publisher=publisher,
                    topic_prefix=settings.ingest.topic_prefix,
                    inbox=settings.inbox,
                    webhook=settings.webhook,
                )
            )
    if "api" in roles:

        def gateway_connections() -> list[ConnectionStats]:
            return running_gateway[0].gateway.snapshot() if running_gateway else []

        factories["api"] = lambda: ApiRole(
            lambda: _app(settings, services, role_health, deadlines, gateway_connections),
            host=settings.http.host,
            port=settings.http.port,
        )
    return factories


def _deadlines(settings: Settings) -> Deadlines:
    """Build the deadline table once: the shipped table, a local one over it, the calendar."""
    from dispatch.calendar_file import load_calendar
    from dispatch.deadlines_file import load_deadlines

    return load_deadlines(
        local=settings.dispatch.deadlines_file,
        calendar=load_calendar(settings.dispatch.calendar_file),
    )


def _app(
    settings: Settings,
    services: Services,
    role_health: Callable[[], object],
    deadlines: Deadlines | None,
    gateway_connections: ConnectionsSource | None = None,
) -> FastAPI:
    api_settings = ApiSettings(
        db_url=services.db_url,
        limits=settings.api,
        devices=settings.devices,
        ingest=settings.ingest,
        storage=settings.storage,
        data_dir=settings.data_dir,
        dispatch=settings.dispatch,
    )
    app = create_app(
        api_settings,
        broker_probe=lambda: broker_reachable(services.mqtt_url),
        deadlines=deadlines,
    )
    app.state.patrol_params = _patrol_params(settings)
    # Device imports provision broker credentials through it (None: the operator's job).
    app.state.broker_accounts = accounts_for(services.broker_admin, settings)
    app.state.role_health = role_health  # /healthz reports every role's state and lag
    app.state.role_max_lag_s = settings.roles.max_lag_s
    app.state.gateway_connections = gateway_connections  # GET /api/v1/gateway/connections
    return app


def _patrol_params(settings: Settings) -> PatrolParams:
    """Read 一日双巡's params from the rules file for the indicators (as the rule counts)."""
    from rules.rules_file import load_rules

    try:
        return patrol_params_of(load_rules(settings.rules.path))
    except RulesError as exc:  # the rules role reports the file itself
        log.warning("indicators count patrols with the default params: %s", exc)
        return PatrolParams()


def _print_demo_token(services: Services) -> str | None:
    """Print the admin token ``console`` the first time; return it then, else None."""
    # One admin token named "console" across starts, printed only when made: a secret is never
    # stored to print again, and a restart must not pile up admin tokens.
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        live = conn.execute(
            "SELECT 1 FROM api_tokens WHERE name = 'console' AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > now())"
        ).fetchone()
        if live is not None:
            print(
                "API token: the 'console' token printed at its first start"
                " (`firegrid token revoke console` and start again for a new one)"
            )
            return None
        # An expired console token is revoked so that its name is free again.
        conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = 'console' AND revoked_at IS NULL"
        )
        token = create_token(
            conn, role="admin", areas=[], note="printed by firegrid up", name="console"
        )
    print(f"API token (admin, printed once): {token}")
    return token


def _check_broker(url: str) -> None:
    """Warn when a broker FireGrid did not configure would drop a burst of QoS 1 messages."""
    from firegrid.broker_check import BrokerCheckError, check_queue_limit

    try:
        result = check_queue_limit(url)
    except BrokerCheckError as exc:
        log.warning("could not check the broker's queue limits: %s", exc)
        return
    if result.ok:
        log.info("broker check: %s", result.message)
    else:
        log.warning("broker check: %s", result.message)


def _stop_on_signals(stop: threading.Event) -> None:
    """Make SIGINT and SIGTERM end ``run`` cleanly: every role stops, then the embedded services."""

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
