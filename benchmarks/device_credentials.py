"""What device credentials cost: a registry import with them, and FireGrid's broker taking them.

Run: ``python benchmarks/device_credentials.py [--db-url URL] [--devices 10000] [--live 20]``.
Prints, each against a baseline measured in the same run:

- an import of N new devices (credentials generated, hashed, stored) vs re-importing the same N
  (rows updated, no credential made): the cost of the hashes;
- the embedded broker's start with N credentials written from the database vs with none;
- ``--live`` new devices reaching the *running* broker through its control topic (Mosquitto 2.0's
  plugin rewrites its state file per command, so this grows with what it already holds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from devices.broker_accounts import DynsecAccounts
from devices.flows import parse_registry, store_registry
from firegrid.broker_auth import write_dynsec_config
from firegrid.db import migrate
from firegrid.embedded import EmbeddedBroker, start_broker, start_postgres
from firegrid.embedded.accounts import own_accounts
from infra.dynsec import DynsecAdmin
from ingest.config import StorageSettings


def _import(db_url: str, ids: list[str], accounts: DynsecAccounts | None = None) -> float:
    rows = [{"device_id": i, "kind": "hydrant"} for i in ids]
    parsed = parse_registry("devices", json.dumps(rows).encode(), fmt="json")
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        store_registry(conn, kind="devices", parsed=parsed, accounts=accounts)
    return time.perf_counter() - started


def _broker_start(data: Path, db_url: str) -> tuple[float, EmbeddedBroker]:
    data.mkdir(parents=True)
    own = own_accounts(data)
    assert own is not None
    started = time.perf_counter()
    config = write_dynsec_config(data, db_url=db_url, own=own, prefix="fg/v1")
    broker = start_broker(data, dynsec_config=config)
    return time.perf_counter() - started, broker


def main() -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db-url", help="an empty database of its own to fill (default: an embedded PostgreSQL)"
    )
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fg-creds-"))
    pg = None if args.db_url else start_postgres(tmp / "pg")
    db_url = args.db_url if pg is None else pg.url
    try:
        migrate(db_url, storage=StorageSettings())
        empty, broker = _broker_start(tmp / "empty-broker", db_url)
        broker.stop()
        ids = [f"BENCH-{i}" for i in range(args.devices)]
        new = _import(db_url, ids)
        again = _import(db_url, ids)
        print(
            f"import {args.devices} new devices: {new:.2f} s; re-import (baseline): {again:.2f} s"
        )
        full, broker = _broker_start(tmp / "broker", db_url)
        print(
            f"broker start with {args.devices} credentials: {full:.2f} s; with none: {empty:.2f} s"
        )
        own = own_accounts(tmp / "broker")
        assert own is not None
        admin = DynsecAdmin(broker.url, own.admin_username, own.admin_password)
        live = _import(
            db_url, [f"LIVE-{i}" for i in range(args.live)], DynsecAccounts(admin, prefix="fg/v1")
        )
        print(f"{args.live} new devices into the running broker: {live:.2f} s")
        broker.stop()
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
