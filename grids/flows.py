"""Grid imports as the API, the CLI and scenario runs make them: merge, replace or retire.

Each builds the next version from the current one (``grids.merge``) under the import lock,
so two imports at once each build on what the other committed, and stores it whole as a new
version: versions stay append-only (CONTRACT §2), an event located under an old version
keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Collection

from grids import service
from grids.merge import next_version
from grids.models import GridSet
from grids.views import ChangedCodes, GridImportSummary
from infra.database import Conn


def import_grid_file(
    conn: Conn,
    *,
    grid_set: GridSet | None,
    source: str,
    replace: bool = False,
    retire: Collection[str] = (),
) -> GridImportSummary:
    """Store the next version: ``grid_set`` merged into the current one (or replacing it).

    ``grid_set`` None with ``retire`` only retires. Raise GridImportError, storing nothing,
    when the result would break the hierarchy or hold no grid. The caller commits.
    """
    service.lock_imports(conn)
    before = service.current_version(conn)
    current = None if before is None else service.load_grid_set(conn, version=before)
    result, changes = next_version(current, grid_set, replace=replace, retire=retire)
    stored = service.import_grids(conn, grid_set=result, source=source)
    named = grid_set or GridSet()
    mode = "replace" if replace else "merge" if grid_set is not None else "retire"
    return GridImportSummary(
        version=stored.version,
        mode=mode,
        counts=named.counts(),
        totals=stored.counts,
        added=ChangedCodes.of(changes.added),
        changed=ChangedCodes.of(changes.changed),
        kept=ChangedCodes.of(changes.kept),
        retired=ChangedCodes.of(changes.retired),
    )
