"""Start the roles FireGrid runs in one process: ingest, API, and the demo simulators."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from api.tokens import create_token
from firegrid.db import migrate
from firegrid.maintenance import StorageMaintenance
from firegrid.services import Services, broker_reachable, resolve
from firegrid.settings import Settings
from ingest.role import IngestService

log = logging.getLogger(__name__)

ROLES = ("ingest", "rules", "dispatch", "api")


def run(settings: Settings, *, roles: Sequence[str], simulate: bool | None) -> int:
    """Run ``roles`` until interrupted; return the exit code."""
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default action
    # that would kill us before the finally below stops the roles and the embedded services.
    signal.signal(signal.SIGTERM, _interrupt)
    services = resolve(settings, need_broker=True)
    stop = threading.Event()
    started: list[Any] = []
    try:
        migrate(services.db_url, storage=settings.storage)
        # The embedded broker is the "try it" setup: demo devices and a printed token come with it.
        embedded = settings.mqtt_url is None
        if not embedded and "ingest" in roles:
            threading.Thread(
                target=_check_broker, args=(services.mqtt_url,), name="broker-check", daemon=True
            ).start()
        if "ingest" in roles:
            ingest = IngestService(
                mqtt_url=services.mqtt_url,
                db_url=services.db_url,
                settings=settings.ingest,
                storage=settings.storage,
                data_dir=settings.data_dir,
            )
            ingest.start()
            started.append(ingest)
            maintenance = StorageMaintenance(db_url=services.db_url)
            maintenance.start()
            started.append(maintenance)
        if simulate if simulate is not None else embedded:
            from firegrid.demo import DemoFleet

            demo = DemoFleet(
                db_url=services.db_url,
                mqtt_url=services.mqtt_url,
                prefix=settings.ingest.topic_prefix,
            )
            demo.start()
            started.append(demo)
        # After the demo registered its devices, so the first daily look already sees them.
        if "rules" in roles:
            from rules.flows import RulesService

            rules_role = RulesService(db_url=services.db_url, settings=settings.rules)
            rules_role.start()
            started.append(rules_role)
        if "api" in roles:
            if embedded:
                _print_demo_token(services)
            _serve_api(settings, services, stop)
        else:
            _wait_for_signal(stop)
    finally:
        for role in reversed(started):
            role.stop()
        services.stop()
    return 0


def _print_demo_token(services: Services) -> None:
    with psycopg.connect(services.db_url, autocommit=True) as conn:
        token = create_token(conn, role="admin", areas=[], note="printed by firegrid up")
    print(f"API token (admin, printed once): {token}")


def _serve_api(settings: Settings, services: Services, stop: threading.Event) -> None:
    api_settings = ApiSettings(
        db_url=services.db_url,
        limits=settings.api,
        devices=settings.devices,
        ingest=settings.ingest,
        storage=settings.storage,
        data_dir=settings.data_dir,
    )
    app = create_app(api_settings, broker_probe=lambda: broker_reachable(services.mqtt_url))
    # Live-feed responses never end by themselves: without a bound on the graceful shutdown,
    # one open console would keep `firegrid up` from stopping on SIGTERM.
    config = uvicorn.Config(
        app,
        host=settings.http.host,
        port=settings.http.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    print(f"API: http://{settings.http.host}:{settings.http.port}/docs")
    uvicorn.Server(config).run()
    stop.set()


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


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_signal(stop: threading.Event) -> None:
    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop.wait(1.0):
        pass
