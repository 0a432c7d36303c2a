"""Merging one street into a city: what an import that adds up costs over a full replacement.

Imports the source documents' city (12,000 grids) into a scratch database on the given server,
then merges one new street (6 × 12 grids) into it with ``grids.flows.import_grid_file``, merges
the same street again (all kept), and retires it; each stores a complete new version. Run:
``python benchmarks/grid_merge.py --db-url postgresql://postgres@127.0.0.1:5432/test``.
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg

from firegrid.db import migrate
from grids.flows import import_grid_file
from ingest.config import StorageSettings
from simulators.grid_layout import generate_city, generate_street
from tests.fix_db import create_database, drop_database


def main() -> None:
    """Run the benchmark and print timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", required=True, help="admin URL of a PostgreSQL server")
    args = parser.parse_args()
    name = f"fg_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.db_url, name)
    try:
        _run(url)
    finally:
        drop_database(args.db_url, name)


def _run(url: str) -> None:
    migrate(url, storage=StorageSettings())
    city = generate_city(seed=1)  # streets 310115001-040
    street = generate_street(lat=31.60, lon=121.58, street_code="310115041")
    steps = [
        ("replace with the city", city, True, ()),
        ("merge one new street", street, False, ()),
        ("merge the same street again", street, False, ()),
        ("retire the street", None, False, ("310115041",)),
    ]
    for label, data, replace, retire in steps:
        with psycopg.connect(url) as conn:
            start = time.perf_counter()
            summary = import_grid_file(
                conn, data=data, source="bench", replace=replace, retire=retire
            )
            conn.commit()
            took = time.perf_counter() - start
        print(
            f"{label:<30} {took:6.2f} s  version {summary.version}: grids {summary.totals['grid']},"
            f" added {summary.added.count}, changed {summary.changed.count},"
            f" kept {summary.kept.count}, retired {summary.retired.count}"
        )


if __name__ == "__main__":
    main()
