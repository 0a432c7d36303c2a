"""Coordinate systems used in China: WGS-84 (GNSS), GCJ-02 (AMap, Tencent), BD-09 (Baidu).

WGS-84 is canonical inside FireGrid; everything else is converted at the edges (DOMAIN.md §5).
Every function takes and returns (lat, lon) in degrees; the ``*_array`` forms take numpy arrays
so grid polygons and API pages convert in one vectorised call.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Semi-major axis. Published GCJ-02 code uses either Krasovsky's 6378245.0 or WGS-84's
# 6378137.0; they differ by under 1 cm. This one reproduces DOMAIN.md §5's test vector exactly.
_A: Final = 6378137.0
_EE: Final = 0.00669342162296594323  # Krasovsky first eccentricity squared, as GCJ-02 uses
_X_PI: Final = math.pi * 3000.0 / 180.0


class Crs(StrEnum):
    """Coordinate reference systems a payload or API call may name."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def _out_of_china(lat: FloatArray, lon: FloatArray) -> npt.NDArray[np.bool_]:
    # GCJ-02 leaves points outside mainland China's bounding box unshifted.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset (dlat, dlon) in degrees at WGS-84 points."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = _out_of_china(lat, lon)
    return np.where(outside, 0.0, dlat), np.where(outside, 0.0, dlon)


def wgs84_to_gcj02_array(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 points to GCJ-02."""
    dlat, dlon = _delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84_array(
    lat: FloatArray, lon: FloatArray, *, iterations: int = 6
) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 points to WGS-84 by fixed-point iteration (well under 0.5 m).

    The one-step inverse (subtract the offset computed at the GCJ point) is off by 1-2 m;
    iterating on the residual converges to centimetres in a few rounds.
    """
    wlat, wlon = lat.copy(), lon.copy()
    for _ in range(iterations):
        glat, glon = wgs84_to_gcj02_array(wlat, wlon)
        wlat = wlat - (glat - lat)
        wlon = wlon - (glon - lon)
    return wlat, wlon


def gcj02_to_bd09_array(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 points to BD-09."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def bd09_to_gcj02_array(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 points to GCJ-02 (the published closed-form inverse)."""
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.sin(theta), z * np.cos(theta)


def to_wgs84_array(
    lat: FloatArray, lon: FloatArray, crs: Crs | str
) -> tuple[FloatArray, FloatArray]:
    """Convert points given in ``crs`` to WGS-84."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return lat, lon
    if crs is Crs.BD09:
        lat, lon = bd09_to_gcj02_array(lat, lon)
    return gcj02_to_wgs84_array(lat, lon)


def from_wgs84_array(
    lat: FloatArray, lon: FloatArray, crs: Crs | str
) -> tuple[FloatArray, FloatArray]:
    """Convert WGS-84 points to ``crs`` (for map display)."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return lat, lon
    glat, glon = wgs84_to_gcj02_array(lat, lon)
    if crs is Crs.BD09:
        return gcj02_to_bd09_array(glat, glon)
    return glat, glon


def to_wgs84(lat: float, lon: float, crs: Crs | str) -> tuple[float, float]:
    """Convert one point given in ``crs`` to WGS-84."""
    la, lo = to_wgs84_array(np.array([lat]), np.array([lon]), crs)
    return float(la[0]), float(lo[0])


def from_wgs84(lat: float, lon: float, crs: Crs | str) -> tuple[float, float]:
    """Convert one WGS-84 point to ``crs``."""
    la, lo = from_wgs84_array(np.array([lat]), np.array([lon]), crs)
    return float(la[0]), float(lo[0])


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in metres between two WGS-84 points."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))
