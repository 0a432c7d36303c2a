"""Grid imports as the API, the CLI and scenario runs make them: merge, replace or retire.

Each reads the current version under the import lock, builds the next one from it and the
file (``grids.merge``), and stores it whole as a new version: two imports at once each build
on what the other committed, and versions stay append-only (CONTRACT §2), so an event located
under an old version keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from grids import service
from grids.effective import china_day, effective_from
from grids.merge import next_version
from grids.models import GridArea, GridSet, load_document, parse_grids
from grids.views import ChangedCodes, GridImportSummary
from infra.database import Conn

GridFile = bytes | str | Mapping[str, Any]


def import_grid_file(
    conn: Conn,
    *,
    data: GridFile | None,
    source: str,
    replace: bool = False,
    retire: Collection[str] = (),
    effective: str | date | None = None,
    today: date | None = None,
) -> GridImportSummary:
    """Store the next version: the GeoJSON ``data`` merged into the current one, or replacing it.

    ``data`` None with ``retire`` only retires. Raise GridImportError listing every problem,
    storing nothing: the file's own, a parent in neither the file nor the current version, a
    retired code unknown or named by the file, a result without grids, an ``effective_from``
    (``effective``, or the file's member of that name) unparsable or after ``today`` (China
    day; default: the wall clock's). The caller commits.
    """
    doc = None if data is None else load_document(data)
    when = effective_from(
        doc if isinstance(doc, Mapping) else None, effective, today=today or china_day()
    )
    service.lock_imports(conn)
    before = service.current_version(conn)
    current = None if before is None else service.load_grid_set(conn, version=before)
    grid_set: GridSet | None = None
    if data is not None:
        # Merging, a parent may be in the current version; replacing, the file stands alone.
        known = None if replace else {code: a.level for code, a in _areas(current)}
        # Decoded once; a document that is not an object is refused by the parser's own words.
        grid_set = parse_grids(doc if isinstance(doc, Mapping) else data, known=known)
    result, changes = next_version(current, grid_set, replace=replace, retire=retire)
    stored = service.import_grids(conn, grid_set=result, source=source, effective_from=when)
    mode = "replace" if replace else "retire" if grid_set is None else "merge"
    return GridImportSummary(
        version=stored.version,
        mode=mode,
        counts=(grid_set or GridSet()).counts(),
        totals=stored.counts,
        added=ChangedCodes.of(changes.added),
        changed=ChangedCodes.of(changes.changed),
        kept=ChangedCodes.of(changes.kept),
        retired=ChangedCodes.of(changes.retired),
        effective_from=when,
    )


def _areas(grid_set: GridSet | None) -> list[tuple[str, GridArea]]:
    if grid_set is None:
        return []
    return [*grid_set.streets.items(), *grid_set.communities.items(), *grid_set.grids.items()]
