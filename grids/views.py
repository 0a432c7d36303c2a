"""Grid versions and areas as read back and as the API shows them.

``grids.models`` holds the import side (the parsed FeatureCollection, ``GridSet``); these are
the rows ``grids.service`` reads for the API, and an area's public form: its geometry as
GeoJSON in the caller's coordinate system rather than the stored WKB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, ClassVar, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import shapely
from pydantic import BaseModel, ConfigDict, Field

from devices.geo import Crs, from_wgs84_array
from grids.codes import GridLevel


class GridVersion(BaseModel):
    """One imported version of the grids and how many areas of each level it holds."""

    model_config = ConfigDict(frozen=True)

    version: int
    imported_at: datetime
    source: str
    counts: dict[str, int]  # street, community, grid
    effective_from: date | None = Field(
        default=None, description="China day the grids it added were in force since, if given"
    )


class StoredArea(BaseModel):
    """A street, community or grid of one version; ``wkb`` None unless it was asked for."""

    model_config = ConfigDict(frozen=True)

    code: str
    level: GridLevel
    name: str | None
    parent: str | None
    wkb: bytes | None  # WGS-84


class Area(BaseModel):
    """A street, community or grid; ``geometry`` (GeoJSON) only when asked for."""

    model_config = ConfigDict(frozen=True)

    code: str
    level: GridLevel
    name: str | None
    parent: str | None
    geometry: dict[str, Any] | None = Field(
        default=None, description="a GeoJSON geometry in the coordinate system asked for"
    )


def area_views(rows: Sequence[StoredArea], *, crs: Crs, geometry: bool) -> list[Area]:
    """Show stored areas; with ``geometry``, each one's shape as GeoJSON in ``crs``.

    Without it the field is left unset, so an answer that excludes unset fields has no
    ``geometry`` key at all (as before areas were models).
    """
    if not geometry:
        return [Area(code=r.code, level=r.level, name=r.name, parent=r.parent) for r in rows]
    shapes = _geojson([r.wkb for r in rows], crs)
    return [
        Area(code=r.code, level=r.level, name=r.name, parent=r.parent, geometry=shape)
        for r, shape in zip(rows, shapes, strict=True)
    ]


def _geojson(blobs: list[bytes | None], crs: Crs) -> list[dict[str, Any] | None]:
    """Return GeoJSON geometries (None where an area has none), converted to ``crs``."""
    present = np.array([b is not None for b in blobs], dtype=bool)
    out: list[dict[str, Any] | None] = [None] * len(blobs)
    if not present.any():
        return out
    geoms = shapely.from_wkb(np.array(blobs, dtype=object)[present])
    if crs is not Crs.WGS84:
        geoms = shapely.transform(geoms, _converter(crs))
    texts = shapely.to_geojson(geoms)
    for i, text in zip(np.flatnonzero(present).tolist(), texts.tolist(), strict=True):
        out[i] = msgspec.json.decode(text)
    return out


def _converter(
    crs: Crs,
) -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    def convert(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # shapely hands (x, y) = (lon, lat); devices.geo speaks (lat, lon).
        lat, lon = from_wgs84_array(xy[:, 1].copy(), xy[:, 0].copy(), crs)
        return np.column_stack((lon, lat))

    return convert


class ChangedCodes(BaseModel):
    """How many areas had one outcome, and their codes in code order, the first ``SHOWN``."""

    model_config = ConfigDict(frozen=True)

    SHOWN: ClassVar[int] = 100  # a city's "kept" runs to thousands; the count is always whole

    count: int
    codes: list[str] = Field(description="the first 100 codes in code order; count has them all")

    @classmethod
    def of(cls, codes: Sequence[str]) -> ChangedCodes:
        """Count ``codes`` (in code order) and keep the first ``SHOWN`` of them."""
        return cls(count=len(codes), codes=list(codes[: cls.SHOWN]))


class GridImportSummary(BaseModel):
    """What a grid import or retirement stored, as the API answers and the CLI prints it."""

    model_config = ConfigDict(frozen=True)

    version: int = Field(description="the new grid version, now the current one")
    mode: Literal["merge", "replace", "retire"]
    counts: dict[str, int] = Field(
        description="areas per level the file held (street, community, grid)"
    )
    totals: dict[str, int] = Field(description="areas per level the new version holds")
    added: ChangedCodes
    changed: ChangedCodes
    kept: ChangedCodes = Field(description="carried over unchanged, named in the file or not")
    retired: ChangedCodes = Field(description="in the previous version, not in the new one")
    effective_from: date | None = Field(
        default=None,
        description="China day the grids it added count from for patrols (None: the import)",
    )
