"""A realistic three-level grid for tests, demos and benchmarks, as GeoJSON (CONTRACT §2).

The area is one lattice of cells, about ``cell_m`` metres square, centred on a WGS-84 position.
Streets are blocks of communities, communities blocks of grids; every polygon is walked along
the same shared lattice vertices, so grids tile their community, communities their street and
streets the whole area with no gap and no overlap, in WGS-84 and after conversion to GCJ-02 or
BD-09 alike (each shared vertex converts to the same point). Interior corners and one point in
the middle of every edge are jittered so borders are not ruler-straight, as surveyed ones are
not. Grids are numbered west→east then north→south within their community, as Beijing's DB11
does, and so are communities within a street and streets within the county.

Pure: no clock, no I/O, seeded randomness. It emits GeoJSON only and needs nothing from rules/.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from devices.geo import Crs, from_wgs84_array

_M_PER_DEG_LAT: Final = 111_320.0
# Real Pudong names (金桥, 碧云, 张江, ...) give demo maps a familiar look.
_PLACES: Final = (
    "金桥", "碧云", "张江", "川沙", "曹路", "唐镇", "高行", "高桥", "凌桥", "合庆",
    "花木", "洋泾", "塘桥", "潍坊", "陆家嘴", "三林", "北蔡", "周浦", "康桥", "御桥",
)  # fmt: skip
_NUMERALS: Final = ("", "一", "二", "三", "四", "五", "六", "七", "八", "九")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Shape:
    """Counts along (west→east, north→south)."""

    cols: int
    rows: int

    @property
    def size(self) -> int:
        """Return cols × rows."""
        return self.cols * self.rows


def squarest(n: int) -> Shape:
    """Return the most nearly square cols × rows = n, wider than tall."""
    if n < 1:
        raise ValueError(f"need at least one, got {n}")
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return Shape(n // rows, rows)


def chinese_number(n: int) -> str:
    """Write 1-99 in Chinese numerals (三, 十二, 二十七) as place names use them."""
    if not 1 <= n <= 99:
        raise ValueError(f"{n} is outside 1-99")
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _NUMERALS[ones]
    return ("" if tens == 1 else _NUMERALS[tens]) + "十" + _NUMERALS[ones]


def community_name(k: int) -> str:
    """Return a community name such as 金桥三村 for the k-th community (from 1)."""
    place, number = divmod(k - 1, 20)
    suffix = chinese_number(number + 1) + "村"
    return _PLACES[place % len(_PLACES)] + ("" if place < len(_PLACES) else "东") + suffix


def generate_layout(
    *,
    lat: float,
    lon: float,
    county: str = "310115",
    streets: int = 1,
    communities_per_street: int = 6,
    grids_per_community: int = 12,
    first_street: int = 5,
    street_names: list[str] | None = None,
    sequence_digits: int = 3,
    cell_m: float = 250.0,
    jitter: float = 0.12,
    crs: Crs | str = Crs.WGS84,
    seed: int = 0,
) -> dict[str, Any]:
    """Generate a FeatureCollection of streets, communities and grids around (lat, lon).

    Street codes are ``county`` + 3 digits from ``first_street``; communities add 3 digits from
    001; grids add ``sequence_digits`` (3: DB11 15-digit codes, 2: 14-digit codes). ``jitter``
    is the largest corner displacement as a fraction of ``cell_m`` (below 0.25 keeps every cell
    a simple polygon). With ``crs`` other than WGS-84 every feature is emitted in that system
    and says so in its ``crs`` property.
    """
    if sequence_digits not in (2, 3):
        raise ValueError("sequence_digits is 2 (14-digit codes) or 3 (15-digit codes)")
    if not (len(county) == 6 and county.isdigit()):
        raise ValueError(f"county must be 6 digits, got {county!r}")
    if grids_per_community >= 10**sequence_digits or communities_per_street > 999:
        raise ValueError("too many grids or communities for the code's digits")
    if not 1 <= first_street <= 999 - streets + 1:
        raise ValueError("street numbers must stay within 001-999")
    if not 0.0 <= jitter < 0.25:
        raise ValueError("jitter must be in [0, 0.25)")
    s_shape, c_shape = squarest(streets), squarest(communities_per_street)
    g_shape = squarest(grids_per_community)
    lattice = _Lattice(
        rows=s_shape.rows * c_shape.rows * g_shape.rows,
        cols=s_shape.cols * c_shape.cols * g_shape.cols,
        lat=lat,
        lon=lon,
        cell_m=cell_m,
        jitter=jitter,
        crs=Crs(crs),
        seed=seed,
    )
    crs_prop = {} if Crs(crs) is Crs.WGS84 else {"crs": Crs(crs).value}
    features: list[dict[str, Any]] = []
    community_count = 0
    for s in range(streets):
        s_row, s_col = divmod(s, s_shape.cols)
        street_code = f"{county}{first_street + s:03d}"
        name = street_names[s] if street_names else f"{_PLACES[s % len(_PLACES)]}街道"
        r0 = s_row * c_shape.rows * g_shape.rows
        c0 = s_col * c_shape.cols * g_shape.cols
        features.append(
            _feature(
                code=street_code,
                level="street",
                name=name,
                parent=county,
                ring=lattice.ring(
                    r0, r0 + c_shape.rows * g_shape.rows, c0, c0 + c_shape.cols * g_shape.cols
                ),
                extra=crs_prop,
            )
        )
        for k in range(communities_per_street):
            k_row, k_col = divmod(k, c_shape.cols)
            community_count += 1
            c_code = f"{street_code}{k + 1:03d}"
            c_name = community_name(community_count)
            cr0, cc0 = r0 + k_row * g_shape.rows, c0 + k_col * g_shape.cols
            ring = lattice.ring(cr0, cr0 + g_shape.rows, cc0, cc0 + g_shape.cols)
            features.append(
                _feature(
                    code=c_code,
                    level="community",
                    name=c_name,
                    parent=street_code,
                    ring=ring,
                    extra=crs_prop,
                )
            )
            for g in range(grids_per_community):
                g_row, g_col = divmod(g, g_shape.cols)
                gr, gc = cr0 + g_row, cc0 + g_col
                features.append(
                    _feature(
                        code=f"{c_code}{g + 1:0{sequence_digits}d}",
                        level="grid",
                        name=f"{c_name}第{g + 1}网格",
                        parent=c_code,
                        ring=lattice.ring(gr, gr + 1, gc, gc + 1),
                        extra=crs_prop,
                    )
                )
    return {"type": "FeatureCollection", "features": features}


def generate_street(
    *,
    lat: float,
    lon: float,
    street_code: str = "310115005",
    street_name: str = "金桥街道",
    communities: int = 6,
    grids_per_community: int = 12,
    crs: Crs | str = Crs.WGS84,
    seed: int = 0,
    **options: Any,
) -> dict[str, Any]:
    """Generate one street of ``communities`` × ``grids_per_community`` grids around a point."""
    if not (len(street_code) == 9 and street_code.isdigit()):
        raise ValueError(f"street_code must be 9 digits, got {street_code!r}")
    return generate_layout(
        lat=lat,
        lon=lon,
        county=street_code[:6],
        first_street=int(street_code[6:]),
        street_names=[street_name],
        communities_per_street=communities,
        grids_per_community=grids_per_community,
        crs=crs,
        seed=seed,
        **options,
    )


def generate_city(
    *, lat: float = 31.25, lon: float = 121.58, seed: int = 0, crs: Crs | str = Crs.WGS84
) -> dict[str, Any]:
    """Generate the source documents' city: 40 streets × 10 communities × 30 = 12,000 grids."""
    return generate_layout(
        lat=lat,
        lon=lon,
        streets=40,
        communities_per_street=10,
        grids_per_community=30,
        first_street=1,
        crs=crs,
        seed=seed,
    )


def grid_centres(collection: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Return a point well inside each grid, (lat, lon), in the collection's own CRS."""
    centres: dict[str, tuple[float, float]] = {}
    for feature in collection["features"]:
        props = feature["properties"]
        if props["level"] != "grid":
            continue
        ring = feature["geometry"]["coordinates"][0]
        # Corners sit at every other position; their mean is at least ~0.25 cell from any edge.
        corners = np.array(ring[:-1:2], dtype=np.float64)
        centres[props["code"]] = (float(corners[:, 1].mean()), float(corners[:, 0].mean()))
    return centres


class _Lattice:
    """Jittered corner and edge-midpoint positions shared by every polygon of the area."""

    def __init__(
        self,
        *,
        rows: int,
        cols: int,
        lat: float,
        lon: float,
        cell_m: float,
        jitter: float,
        crs: Crs,
        seed: int,
    ) -> None:
        rng = np.random.default_rng(seed)
        # Metres east (x) and north (y) of the centre; row 0 is the northernmost.
        x = (np.arange(cols + 1) - cols / 2.0) * cell_m
        y = (rows / 2.0 - np.arange(rows + 1)) * cell_m
        cx, cy = np.meshgrid(x, y)
        amp = jitter * cell_m
        cx = cx + rng.uniform(-amp, amp, cx.shape)
        cy = cy + rng.uniform(-amp, amp, cy.shape)
        # Midpoints of horizontal edges (rows+1 × cols) and vertical edges (rows × cols+1),
        # nudged across their edge by less than half the corner jitter: still simple polygons.
        hx, hy = (cx[:, :-1] + cx[:, 1:]) / 2, (cy[:, :-1] + cy[:, 1:]) / 2
        hy = hy + rng.uniform(-amp / 2, amp / 2, hy.shape)
        vx, vy = (cx[:-1, :] + cx[1:, :]) / 2, (cy[:-1, :] + cy[1:, :]) / 2
        vx = vx + rng.uniform(-amp / 2, amp / 2, vx.shape)
        self._corner = self._degrees(cx, cy, lat, lon, crs)
        self._h = self._degrees(hx, hy, lat, lon, crs)
        self._v = self._degrees(vx, vy, lat, lon, crs)

    @staticmethod
    def _degrees(
        x: FloatArray, y: FloatArray, lat: float, lon: float, crs: Crs
    ) -> npt.NDArray[np.object_]:
        la = lat + y / _M_PER_DEG_LAT
        lo = lon + x / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
        la, lo = from_wgs84_array(la, lo, crs)
        # Positions as [lon, lat] lists once, so rings share the very same floats.
        out = np.empty(la.shape, dtype=object)
        for idx in np.ndindex(la.shape):
            out[idx] = [float(lo[idx]), float(la[idx])]
        return out

    def ring(self, r0: int, r1: int, c0: int, c1: int) -> list[list[float]]:
        """Return the closed counter-clockwise ring around cells rows r0..r1-1, cols c0..c1-1."""
        corner, h, v = self._corner, self._h, self._v
        path: list[list[float]] = []
        for c in range(c0, c1):  # north edge, west → east
            path += [corner[r0, c], h[r0, c]]
        for r in range(r0, r1):  # east edge, north → south
            path += [corner[r, c1], v[r, c1]]
        for c in range(c1, c0, -1):  # south edge, east → west
            path += [corner[r1, c], h[r1, c - 1]]
        for r in range(r1, r0, -1):  # west edge, south → north
            path += [corner[r, c0], v[r - 1, c0]]
        path.append(corner[r0, c0])
        # Walked clockwise on the map; RFC 7946 wants exterior rings counter-clockwise.
        return [list(p) for p in reversed(path)]


def _feature(
    *,
    code: str,
    level: str,
    name: str,
    parent: str,
    ring: list[list[float]],
    extra: dict[str, str],
) -> dict[str, Any]:
    props: dict[str, Any] = {"code": code, "level": level, "name": name}
    if level != "street":
        props["parent"] = parent
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": props | extra,
    }
