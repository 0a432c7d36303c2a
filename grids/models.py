"""The three-level grid as imported from GeoJSON (CONTRACT §2), validated, in WGS-84.

``parse_grids`` reads a FeatureCollection and either returns a ``GridSet`` or raises one
``GridImportError`` listing every problem with its location (``features[12].properties.code``),
so an operator fixes a file in one round rather than one error per upload. Nothing here touches
the database; storing a version of the set is the service's job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import shapely

from devices.geo import Crs, to_wgs84_array
from grids.codes import PARENT_LEVEL, GridCode, GridLevel, parse_code, parse_level
from grids.exceptions import GridCodeError, GridImportError, GridProblem

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_GEOMETRY_TYPES: Final = ("Polygon", "MultiPolygon")


@dataclass(frozen=True, slots=True)
class GridArea:
    """One street, community or grid; ``geometry`` is a WGS-84 Polygon or MultiPolygon.

    Streets and communities may come without a geometry (``null`` in the file): their extent is
    their grids'. Grids always have one.
    """

    code: str
    level: GridLevel
    name: str
    parent: str | None
    parts: GridCode
    geometry: Any
    source_crs: Crs
    # Position in the file it was read from, to locate problems found after parsing (a merge
    # naming a parent the current version lacks); None when loaded from the database.
    feature: int | None = None


@dataclass(frozen=True, slots=True)
class GridSet:
    """A validated grid file: every area by code, one mapping per level."""

    streets: Mapping[str, GridArea] = field(default_factory=dict)
    communities: Mapping[str, GridArea] = field(default_factory=dict)
    grids: Mapping[str, GridArea] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Return how many areas each level holds, as the import API answers."""
        return {
            GridLevel.STREET.value: len(self.streets),
            GridLevel.COMMUNITY.value: len(self.communities),
            GridLevel.GRID.value: len(self.grids),
        }

    def get(self, code: str) -> GridArea | None:
        """Return the area with ``code`` at any level, or None."""
        return self.grids.get(code) or self.communities.get(code) or self.streets.get(code)


@dataclass(slots=True)
class _Row:
    """What the first pass learned about one feature with a usable level and code."""

    index: int
    parts: GridCode | None  # None when the code or level is unusable
    name: str
    parent: str | None
    crs: Crs
    geometry: Any  # shapely geometry in the source CRS, or None


def parse_grids(
    data: bytes | str | Mapping[str, Any], *, known: Mapping[str, GridLevel] | None = None
) -> GridSet:
    """Parse a GeoJSON FeatureCollection of grids into a GridSet or raise GridImportError.

    ``known`` (code → level): the file is merged into a version holding these areas
    (``grids.merge``), so a parent may be one of them rather than in the file, and the file
    need not hold a grid itself. None: the file is a whole set on its own.
    """
    doc = load_document(data)
    problems: list[GridProblem] = []
    features = _features(doc, problems)
    rows: list[_Row] = []
    for i, feature in enumerate(features):
        row = _feature(i, feature, problems)
        if row is not None:
            rows.append(row)
    by_code = _unique(rows, problems)
    _check_parents(rows, by_code, problems, known=known)
    _to_wgs84(rows)
    _check_geometry(rows, problems)
    if not problems:
        _check_not_empty(rows, problems, merged=known is not None)
    if problems:
        # In file order, as the checks above ran in passes over all features.
        problems.sort(key=lambda p: _where_key(p.where))
        raise GridImportError(problems)
    levels: dict[GridLevel, dict[str, GridArea]] = {level: {} for level in GridLevel}
    for row in rows:
        # No problems means every feature had a usable code and level.
        assert row.parts is not None
        area = GridArea(
            code=row.parts.code,
            level=row.parts.level,
            name=row.name,
            parent=row.parent,
            parts=row.parts,
            geometry=row.geometry,
            source_crs=row.crs,
            feature=row.index,
        )
        levels[area.level][area.code] = area
    return GridSet(
        streets=levels[GridLevel.STREET],
        communities=levels[GridLevel.COMMUNITY],
        grids=levels[GridLevel.GRID],
    )


def _check_not_empty(rows: list[_Row], problems: list[GridProblem], *, merged: bool) -> None:
    if merged:
        # Merged, a file of streets or communities alone renames them; an empty one does nothing.
        if not rows:
            problems.append(GridProblem("features", "no_areas", "the file holds no feature"))
    elif not any(r.parts and r.parts.level is GridLevel.GRID for r in rows):
        # A version without grids would replace the current one and put every point outside.
        problems.append(GridProblem("features", "no_grids", "the file holds no grid feature"))


def load_document(data: bytes | str | Mapping[str, Any]) -> Any:
    """Return the decoded JSON of a grid file (a mapping is returned as it is)."""
    if isinstance(data, Mapping):
        return data
    raw = data.encode() if isinstance(data, str) else data
    # Desktop GIS tools on Windows write a BOM; it is not part of the JSON.
    raw = raw.removeprefix(_UTF8_BOM)
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise GridImportError([GridProblem("$", "invalid_json", str(exc))]) from exc


def _features(doc: Any, problems: list[GridProblem]) -> list[Any]:
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        problems.append(
            GridProblem("type", "not_feature_collection", "top level must be a FeatureCollection")
        )
        raise GridImportError(problems)
    features = doc.get("features")
    if not isinstance(features, list):
        problems.append(GridProblem("features", "features_missing", "features must be a list"))
        raise GridImportError(problems)
    return features


def _feature(i: int, feature: Any, problems: list[GridProblem]) -> _Row | None:
    """Check one feature's own fields; return what later passes need, or None if unusable."""
    at = f"features[{i}]"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        problems.append(GridProblem(at, "feature_invalid", 'must be an object of type "Feature"'))
        return None
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        problems.append(GridProblem(f"{at}.properties", "properties_missing", "must be an object"))
        return None
    level: GridLevel | None = None
    parts: GridCode | None = None
    try:
        level = parse_level(props.get("level"))
    except GridCodeError as exc:
        problems.append(GridProblem(f"{at}.properties.level", exc.reason, exc.message))
    if level is not None:
        try:
            parts = parse_code(props.get("code"), level)
        except GridCodeError as exc:
            problems.append(GridProblem(f"{at}.properties.code", exc.reason, exc.message))
    name = props.get("name", "")
    if not isinstance(name, str):
        problems.append(GridProblem(f"{at}.properties.name", "name_invalid", "must be a string"))
    parent = _parent(at, props, level, parts, problems)
    crs, raw_crs = Crs.WGS84, props.get("crs")
    try:
        crs = Crs(Crs.WGS84.value if raw_crs in (None, "") else raw_crs)  # null: the default
    except ValueError:
        problems.append(
            GridProblem(f"{at}.properties.crs", "crs_unknown", "must be wgs84, gcj02 or bd09")
        )
    geometry = _geometry(f"{at}.geometry", feature.get("geometry"), level, problems)
    # Kept even when fields are wrong: its geometry is still checked, and a child whose parent
    # has, say, a bad name is not also told its parent is missing.
    return _Row(i, parts, name if isinstance(name, str) else "", parent, crs, geometry)


def _parent(
    at: str,
    props: Mapping[str, Any],
    level: GridLevel | None,
    parts: GridCode | None,
    problems: list[GridProblem],
) -> str | None:
    where = f"{at}.properties.parent"
    parent = props.get("parent")
    if parent is None:
        if level is not None and level in PARENT_LEVEL:
            wanted = PARENT_LEVEL[level].value
            problems.append(
                GridProblem(where, "parent_required", f"every {level.value} needs a {wanted}")
            )
        return None
    if not isinstance(parent, str):
        problems.append(GridProblem(where, "parent_invalid", "must be a string"))
        return None
    if parts is not None:
        # A street's parent is its county; below that the code must extend the parent's.
        # Whether the parent exists and has the right level is checked once all are read.
        fits = (
            parent == parts.county if level is GridLevel.STREET else parts.code.startswith(parent)
        )
        if not fits:
            problems.append(
                GridProblem(
                    f"{at}.properties.code",
                    "code_parent_mismatch",
                    f"code {parts.code} does not start with its parent's code {parent}",
                )
            )
    return parent


def _unique(rows: list[_Row], problems: list[GridProblem]) -> dict[str, _Row]:
    by_code: dict[str, _Row] = {}
    for row in rows:
        if row.parts is None:
            continue
        code = row.parts.code
        first = by_code.setdefault(code, row)
        if first is not row:
            problems.append(
                GridProblem(
                    f"features[{row.index}].properties.code",
                    "duplicate_code",
                    f"{code} is also features[{first.index}]",
                )
            )
    return by_code


def _check_parents(
    rows: list[_Row],
    by_code: dict[str, _Row],
    problems: list[GridProblem],
    *,
    known: Mapping[str, GridLevel] | None,
) -> None:
    for row in rows:
        if row.parts is None or row.parts.level not in PARENT_LEVEL or row.parent is None:
            continue
        level = row.parts.level
        where = f"features[{row.index}].properties.parent"
        parent = by_code.get(row.parent)
        wanted = PARENT_LEVEL[level]
        # A parent in the file wins; else one in the version the file is merged into.
        found = parent.parts.level if parent is not None and parent.parts is not None else None
        if parent is None and known is not None:
            found = known.get(row.parent)
        if parent is None and found is None:
            merged = " in the file or the current version" if known is not None else ""
            problems.append(
                GridProblem(
                    where,
                    "parent_missing",
                    f"no valid {wanted.value} has code {row.parent}{merged}",
                )
            )
        elif found is not None and found is not wanted:
            problems.append(
                GridProblem(
                    where,
                    "parent_wrong_level",
                    f"{row.parent} is a {found.value}, a {level.value}'s parent "
                    f"must be a {wanted.value}",
                )
            )


def _geometry(at: str, raw: Any, level: GridLevel | None, problems: list[GridProblem]) -> Any:
    """Build a shapely geometry from GeoJSON, checking positions; validity is checked later."""
    coords = _coordinates(at, raw, level, problems)
    if coords is None:
        return None
    where = f"{at}.coordinates"
    before = len(problems)
    if raw["type"] == "Polygon":
        polygons = [_polygon(where, coords, problems)]
    else:
        polygons = [_polygon(f"{where}[{k}]", p, problems) for k, p in enumerate(coords)]
    if len(problems) > before:
        return None
    try:
        if raw["type"] == "Polygon":
            return shapely.Polygon(polygons[0][0], polygons[0][1:])
        return shapely.MultiPolygon([(p[0], p[1:]) for p in polygons])
    except (ValueError, shapely.errors.GEOSException) as exc:
        problems.append(GridProblem(where, "geometry_invalid", str(exc)))
        return None


def _coordinates(
    at: str, raw: Any, level: GridLevel | None, problems: list[GridProblem]
) -> list[Any] | None:
    if raw is None:
        if level is GridLevel.GRID:
            problems.append(GridProblem(at, "geometry_missing", "every grid needs a polygon"))
        return None
    if not isinstance(raw, Mapping) or raw.get("type") not in _GEOMETRY_TYPES:
        kind = raw.get("type") if isinstance(raw, Mapping) else type(raw).__name__
        problems.append(
            GridProblem(at, "geometry_type", f"must be a Polygon or MultiPolygon, not {kind}")
        )
        return None
    coords = raw.get("coordinates")
    where = f"{at}.coordinates"
    if not isinstance(coords, list):
        problems.append(GridProblem(where, "geometry_invalid", "coordinates must be an array"))
        return None
    if not coords:
        problems.append(GridProblem(where, "geometry_empty", "no coordinates"))
        return None
    return coords


def _polygon(at: str, rings: Any, problems: list[GridProblem]) -> list[npt.NDArray[np.float64]]:
    if not isinstance(rings, list) or not rings:
        problems.append(GridProblem(at, "geometry_invalid", "a polygon is a non-empty ring array"))
        return []
    return [_ring(f"{at}[{r}]", ring, problems) for r, ring in enumerate(rings)]


def _ring(at: str, ring: Any, problems: list[GridProblem]) -> npt.NDArray[np.float64]:
    empty = np.empty((0, 2))
    if not isinstance(ring, list):
        problems.append(GridProblem(at, "geometry_invalid", "a ring is an array of positions"))
        return empty
    for k, pos in enumerate(ring):
        problem = _position_problem(pos)
        if problem is not None:
            problems.append(GridProblem(f"{at}[{k}]", *problem))
            return empty
    xy = np.array([pos[:2] for pos in ring], dtype=np.float64).reshape(-1, 2)
    distinct = len({(x, y) for x, y in xy.tolist()})
    if distinct < 3:
        problems.append(
            GridProblem(
                at, "geometry_invalid", f"a ring needs 3 distinct positions, has {distinct}"
            )
        )
    # RFC 7946 wants rings closed; exports that omit the closing position are closed here.
    return xy


def _position_problem(pos: Any) -> tuple[str, str] | None:
    if not isinstance(pos, list) or len(pos) < 2:
        return ("geometry_invalid", "a position is [lon, lat]")
    lon, lat = pos[0], pos[1]
    for value in (lon, lat):
        # bool is an int subclass; strings would be silently coerced by numpy.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return ("geometry_invalid", f"coordinate {value!r} is not a finite number")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        hint = " (GeoJSON positions are [lon, lat]; swapped?)" if abs(lat) > 90 else ""
        return ("coordinate_out_of_range", f"[{lon}, {lat}] is not on Earth{hint}")
    return None


def _to_wgs84(rows: list[_Row]) -> None:
    """Convert every non-WGS-84 geometry in one vectorised call per source CRS."""
    for crs in (Crs.GCJ02, Crs.BD09):
        chosen = [row for row in rows if row.crs is crs and row.geometry is not None]
        if not chosen:
            continue
        geoms = np.array([row.geometry for row in chosen], dtype=object)
        converted = shapely.transform(geoms, _converter(crs))
        for row, geom in zip(chosen, converted, strict=True):
            row.geometry = geom


def _converter(crs: Crs) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    def convert(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # shapely hands (x, y) = (lon, lat); devices.geo speaks (lat, lon).
        lat, lon = to_wgs84_array(xy[:, 1].copy(), xy[:, 0].copy(), crs)
        return np.column_stack((lon, lat))

    return convert


def _check_geometry(rows: list[_Row], problems: list[GridProblem]) -> None:
    with_geometry = [row for row in rows if row.geometry is not None]
    if not with_geometry:
        return
    geoms = np.array([row.geometry for row in with_geometry], dtype=object)
    empty = shapely.is_empty(geoms) | (shapely.area(geoms) == 0.0)
    valid = shapely.is_valid(geoms)
    reasons = shapely.is_valid_reason(geoms[~valid]) if not valid.all() else []
    bad = iter(reasons)
    for row, is_empty, is_valid in zip(with_geometry, empty, valid, strict=True):
        where = f"features[{row.index}].geometry"
        # An invalid ring (a bow-tie) can also have zero area; the reason says more.
        if not is_valid:
            problems.append(GridProblem(where, "geometry_invalid", str(next(bad))))
        elif is_empty:
            problems.append(GridProblem(where, "geometry_empty", "the polygon has no area"))


def _where_key(where: str) -> int:
    # "features[12].properties.code" → 12; file-level problems first. The sort is stable, so
    # a feature's own problems keep the order the checks found them in.
    number = where.removeprefix("features[").partition("]")[0]
    return int(number) if where.startswith("features[") and number.isdigit() else -1
