"""The next grid version from the current one and a file: merged by code, replaced, or retired.

Pure, like ``grids.models``: the flow (``grids.flows``) loads the current version, asks here
for the next one and stores it. Rules, stated once and documented in docs/integrators/grids.md:

- **merge** (the default): every area the file names is added or replaces the one with its
  code; every other area of the current version is kept as it is.
- **replace**: the file is the whole new set; what it does not name is retired.
- **retire** codes leave the new version, each with everything under it: a street's
  communities and their grids, a community's grids. A code retired must be in the current
  version and not named by the same file.

The hierarchy must hold in the result: every grid's parent community and every community's
parent street is in the new version, and the new version holds at least one grid.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely

from grids.codes import PARENT_LEVEL, GridLevel
from grids.exceptions import GridImportError, GridProblem
from grids.models import GridArea, GridSet

_LEVELS = (GridLevel.STREET, GridLevel.COMMUNITY, GridLevel.GRID)


@dataclass(frozen=True, slots=True)
class GridChanges:
    """The codes of the new version compared with the one before, each list in code order.

    ``kept`` holds every area carried over unchanged, whether the file named it identically
    or did not name it; ``retired`` every area of the old version the new one lacks.
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def next_version(
    current: GridSet | None,
    incoming: GridSet | None,
    *,
    replace: bool = False,
    retire: Collection[str] = (),
) -> tuple[GridSet, GridChanges]:
    """Return the set the next version holds and how it differs from ``current``.

    Raise GridImportError listing every problem: an unknown or contradictory retired code,
    a parent in neither the file nor the current version, a result without grids.
    """
    before = current or GridSet()
    named = incoming or GridSet()
    problems: list[GridProblem] = []
    areas = _by_code(named) if replace else {**_by_code(before), **_by_code(named)}
    for code in sorted(set(retire)):
        if named.get(code) is not None:
            problems.append(
                GridProblem(f"retire[{code}]", "retire_conflict", "the file names it too")
            )
        elif before.get(code) is None:
            problems.append(
                GridProblem(f"retire[{code}]", "retire_unknown", "not in the current version")
            )
        else:
            doomed = _with_children(areas, code)
            clash = sorted(c for c in doomed if named.get(c) is not None)
            if clash:
                problems.append(
                    GridProblem(
                        f"retire[{code}]",
                        "retire_conflict",
                        f"the file names {', '.join(clash[:5])} under it",
                    )
                )
            for gone in doomed:
                areas.pop(gone, None)
    _check_hierarchy(areas, named, problems)
    result = _as_set(areas.values())
    if not problems and not result.grids:
        problems.append(GridProblem("features", "no_grids", "the new version would hold no grid"))
    if problems:
        raise GridImportError(problems)
    return result, _compare(before, result)


def _by_code(grid_set: GridSet) -> dict[str, GridArea]:
    return {**grid_set.streets, **grid_set.communities, **grid_set.grids}


def _with_children(areas: Mapping[str, GridArea], code: str) -> set[str]:
    """Return ``code`` and, by parent links, the codes of everything below it in ``areas``."""
    # Parent links, not prefixes: a 14-digit grid code is a prefix of ten 15-digit ones.
    doomed = {code}
    for level in _LEVELS[1:]:  # communities first, so their grids follow them
        doomed |= {c for c, a in areas.items() if a.level is level and a.parent in doomed}
    return doomed


def _check_hierarchy(
    areas: Mapping[str, GridArea], named: GridSet, problems: list[GridProblem]
) -> None:
    for area in areas.values():
        if area.level not in PARENT_LEVEL or area.parent is None:
            continue
        parent = areas.get(area.parent)
        wanted = PARENT_LEVEL[area.level]
        if parent is not None and parent.level is wanted:
            continue
        mine = named.get(area.code) is area
        where = (
            f"features[{area.feature}].properties.parent"
            if mine and area.feature is not None
            else f"areas[{area.code}].parent"  # kept from the current version
        )
        problems.append(
            GridProblem(
                where,
                "parent_missing",
                f"no {wanted.value} {area.parent} in the file or the current version"
                if mine
                else f"its {wanted.value} {area.parent} is retired",
            )
        )
    problems.sort(key=lambda p: p.where)


def _as_set(areas: Collection[GridArea]) -> GridSet:
    levels: dict[GridLevel, dict[str, GridArea]] = {level: {} for level in _LEVELS}
    for area in sorted(areas, key=lambda a: a.code):
        levels[area.level][area.code] = area
    return GridSet(
        streets=levels[GridLevel.STREET],
        communities=levels[GridLevel.COMMUNITY],
        grids=levels[GridLevel.GRID],
    )


def _compare(before: GridSet, after: GridSet) -> GridChanges:
    old, new = _by_code(before), _by_code(after)
    both = sorted(old.keys() & new.keys())
    same = _same(
        [old[c] for c in both],
        [new[c] for c in both],
    )
    return GridChanges(
        added=sorted(new.keys() - old.keys()),
        changed=[c for c, s in zip(both, same, strict=True) if not s],
        kept=[c for c, s in zip(both, same, strict=True) if s],
        retired=sorted(old.keys() - new.keys()),
    )


def _same(old: list[GridArea], new: list[GridArea]) -> list[bool]:
    """Tell, per pair, whether an area is unchanged: fields equal, geometry exactly equal."""
    if not old:
        return []
    fields = [
        (a.level, a.name, a.parent, a.source_crs) == (b.level, b.name, b.parent, b.source_crs)
        for a, b in zip(old, new, strict=True)
    ]
    left = np.array([a.geometry for a in old], dtype=object)
    right = np.array([b.geometry for b in new], dtype=object)
    # shapely answers False for a missing geometry on either side; two missing ones are equal.
    missing_l = np.array([g is None for g in left], dtype=bool)
    missing_r = np.array([g is None for g in right], dtype=bool)
    shapes = np.zeros(len(old), dtype=bool)
    present = ~missing_l & ~missing_r
    if present.any():
        # Stored WKB round-trips doubles exactly, so an unchanged file compares equal at 0.
        shapes[present] = shapely.equals_exact(left[present], right[present], tolerance=0.0)
    shapes |= missing_l & missing_r
    return [f and bool(s) for f, s in zip(fields, shapes.tolist(), strict=True)]
