"""Run scenarios over the real broker and a real database, with the rules service in-process.

Each run gets a database of its own (created on the test server, migrated, dropped after):
the daily checks judge a China day once per database, and a scenario's "no more hazards than
declared" is only meaningful where nobody else's data is evaluated. Ingest runs in-process
under its own topic prefix, as ``tests.fix_ingest`` does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from firegrid.db import migrate
from gateway.config import GatewaySettings
from gateway.role import GatewayRole
from grids.locator import GridLocator
from grids.models import parse_grids
from grids.service import import_grids
from ingest.config import IngestSettings, StorageSettings
from ingest.role import IngestService
from rules.config import RulesSettings
from rules.flows import RulesService
from simulators.publish import Publisher
from simulators.scenarios import Scenario, build, compare
from simulators.scenarios.live import stored_hazards
from simulators.scenarios.models import Mismatch, ObservedHazard
from simulators.scenarios.runner import run
from tests.china_midnight import away_from_china_midnight
from tests.fix_db import create_database, drop_database
from tests.fix_ingest import wait_until


@dataclass
class EngineHooks:
    """Hooks that import grids and drive ``RulesService`` in-process."""

    db_url: str
    rules: RulesService
    ticks: list[tuple[datetime, tuple[str, ...]]] = field(default_factory=list)

    def import_grids(self, collection: dict[str, Any]) -> None:
        """Import the scenario's grids as the current version."""
        with psycopg.connect(self.db_url) as conn:
            result = import_grids(conn, grid_set=parse_grids(collection), source="scenario")
            # A scenario's street was in service before the days it judges (the patrol check
            # judges yesterday, and skips grids drawn after it): date its version back.
            conn.execute(
                "UPDATE grid_versions SET imported_at = imported_at - interval '7 days'"
                " WHERE version = %s",
                (result.version,),
            )

    def evaluate(self) -> None:
        """Process every committed batch."""
        self.rules.process_pending()

    def tick(self, now: datetime, checks: tuple[str, ...]) -> None:
        """Run the named clock-driven checks at ``now``."""
        self.ticks.append((now, checks))
        self.rules.tick(now, which=checks)

    def hazards(self, scenario: Scenario) -> list[ObservedHazard]:
        """Return the scenario's stored hazards."""
        return stored_hazards(self.db_url, scenario)


@dataclass
class ScenarioEnv:
    """A private database with ingest and the rules service running against it."""

    db_url: str
    prefix: str
    ingest: IngestService
    publisher: Publisher
    rules: RulesService
    first_batch: int

    def committed_messages(self) -> int:
        """Return how many messages this run's ingest committed."""
        return int(
            self.scalar(
                "SELECT coalesce(sum(messages), 0) FROM ingest_batches WHERE batch_id > %s",
                self.first_batch,
            )
        )

    def scalar(self, query: str, *params: Any) -> Any:
        """Run a one-value query."""
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(query, params).fetchone()
            return None if row is None else row[0]

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run a query and return all rows."""
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(query, params).fetchall()

    def build(self, name: str) -> Scenario:
        """Build scenario ``name`` for this run's prefix, based now."""
        late = timedelta(seconds=self.rules.settings.late_window_s)
        return build(name, tag=uuid.uuid4().hex[:8], prefix=self.prefix, late_window=late)

    def run(
        self, scenario: Scenario, *, timeout_s: float = 60.0, gateway: str | None = None
    ) -> Outcome:
        """Run ``scenario`` (GB/T 26875.3 frames to ``gateway``) and compare its hazards."""
        hooks = EngineHooks(self.db_url, self.rules)
        started = time.monotonic()
        observed = run(
            scenario,
            db_url=self.db_url,
            publisher=self.publisher,
            hooks=hooks,
            timeout_s=timeout_s,
            committed=lambda n: self.committed_messages() >= n,
            gateway=gateway,
        )
        return Outcome(
            scenario,
            observed,
            compare(scenario.expected_hazards, observed),
            time.monotonic() - started,
        )


@dataclass(frozen=True)
class Outcome:
    """What a run left behind, and how it compares with what the scenario declared."""

    scenario: Scenario
    observed: list[ObservedHazard]
    mismatch: Mismatch
    seconds: float


@contextmanager
def scenario_env(pg_admin_url: str, broker_url: str, tmp_path: Path) -> Iterator[ScenarioEnv]:
    """Create a database, start ingest and the rules service on it; tear all down after."""
    away_from_china_midnight(timedelta(minutes=5))  # a scenario's "today" must stay today
    tag = uuid.uuid4().hex[:8]
    name = f"fg_scn_{tag}"
    db_url = create_database(pg_admin_url, name)
    try:
        migrate(db_url, storage=StorageSettings())
        prefix = f"fgscn{tag}/v1"
        ingest = IngestService(
            mqtt_url=broker_url,
            db_url=db_url,
            settings=IngestSettings(topic_prefix=prefix, client_id=f"fg-ingest-{tag}"),
            storage=StorageSettings(),
            data_dir=tmp_path,
        )
        ingest.start()
        try:
            if not ingest.subscriber.connected.wait(10):
                raise RuntimeError(f"ingest could not connect to {broker_url}")
            time.sleep(0.2)  # let the SUBACK land before the first publish
            rules = RulesService(db_url=db_url, settings=RulesSettings())
            # Each scenario imports its grids just before its data: look the version up afresh.
            rules.locator = GridLocator(
                connect=lambda: psycopg.connect(db_url, autocommit=True), refresh_s=0.0
            )
            with psycopg.connect(db_url) as conn:
                last = conn.execute("SELECT max(batch_id) FROM ingest_batches").fetchone()
            first = int(last[0]) if last and last[0] is not None else 0
            with Publisher(broker_url, client_id=f"fg-pub-{tag}") as publisher:
                yield ScenarioEnv(db_url, prefix, ingest, publisher, rules, first)
            rules.close()
        finally:
            ingest.stop()
    finally:
        drop_database(pg_admin_url, name)


@contextmanager
def gateway_role(env: ScenarioEnv) -> Iterator[str]:
    """Run a GB/T 26875.3 gateway role on the scenario's database, on a free port; yield its
    ``host:port`` (what ``FIREGRID_GB26875`` says in production)."""
    role = GatewayRole(
        listen="127.0.0.1:0",
        db_url=env.db_url,
        settings=GatewaySettings(linger_s=0.01),
        ingest=IngestSettings(topic_prefix=env.prefix),
        storage=StorageSettings(),
    )
    role.start()
    try:
        wait_until(lambda: role.health().state == "running", timeout_s=10, what="gateway up")
        yield f"127.0.0.1:{role.gateway.port}"
    finally:
        role.stop()
