"""WGS-84 / GCJ-02 / BD-09 conversions (DOMAIN.md §5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.geo import (
    Crs,
    bd09_to_gcj02_array,
    from_wgs84,
    from_wgs84_array,
    gcj02_to_bd09_array,
    gcj02_to_wgs84_array,
    haversine_m,
    to_wgs84,
    to_wgs84_array,
    wgs84_to_gcj02_array,
)

# DOMAIN.md §5 test vector (Suzhou).
WGS = (31.280844, 120.596931)
GCJ = (31.278648624428175, 120.60109998322247)

# Mainland China, kept inside GCJ-02's own bounding box so every point is shifted.
china = st.tuples(st.floats(18.2, 53.5), st.floats(73.7, 134.7))


def test_domain_vector_wgs_to_gcj() -> None:
    lat, lon = from_wgs84(*WGS, Crs.GCJ02)
    assert abs(lat - GCJ[0]) < 1e-9
    assert abs(lon - GCJ[1]) < 1e-9


def test_domain_vector_gcj_to_wgs_iterative() -> None:
    lat, lon = to_wgs84(*GCJ, "gcj02")
    assert haversine_m(lat, lon, *WGS) < 0.5


def test_wgs_to_gcj_offset_is_hundreds_of_metres_at_suzhou() -> None:
    # DOMAIN.md §5: about 465 m WGS->GCJ and about 930 m more to BD-09.
    gcj = from_wgs84(*WGS, Crs.GCJ02)
    bd = from_wgs84(*WGS, Crs.BD09)
    assert 400 < haversine_m(*WGS, *gcj) < 530
    assert 850 < haversine_m(*gcj, *bd) < 1000


def test_one_step_inverse_is_what_iteration_improves_on() -> None:
    once = gcj02_to_wgs84_array(np.array([GCJ[0]]), np.array([GCJ[1]]), iterations=1)
    many = gcj02_to_wgs84_array(np.array([GCJ[0]]), np.array([GCJ[1]]))
    err_once = haversine_m(float(once[0][0]), float(once[1][0]), *WGS)
    err_many = haversine_m(float(many[0][0]), float(many[1][0]), *WGS)
    assert err_many < 0.01
    assert err_once > err_many


def test_outside_china_is_not_shifted() -> None:
    for point in ((48.8566, 2.3522), (-33.86, 151.21), (35.68, 139.69)):
        assert from_wgs84(*point, Crs.GCJ02) == point
        assert to_wgs84(*point, Crs.GCJ02) == point


def test_wgs84_is_identity_and_unknown_crs_is_refused() -> None:
    assert to_wgs84(*WGS, "wgs84") == WGS
    assert from_wgs84(*WGS, Crs.WGS84) == WGS
    with pytest.raises(ValueError):
        to_wgs84(*WGS, "utm")


@settings(max_examples=300)
@given(china)
def test_iterative_inverse_under_half_a_metre(point: tuple[float, float]) -> None:
    gcj = from_wgs84(*point, Crs.GCJ02)
    back = to_wgs84(*gcj, Crs.GCJ02)
    assert haversine_m(*back, *point) < 0.5


@settings(max_examples=300)
@given(china)
def test_bd09_round_trip_under_half_a_metre(point: tuple[float, float]) -> None:
    bd = from_wgs84(*point, Crs.BD09)
    back = to_wgs84(*bd, Crs.BD09)
    assert haversine_m(*back, *point) < 0.5


@settings(max_examples=300)
@given(china)
def test_gcj_bd_closed_form_pair_round_trips(point: tuple[float, float]) -> None:
    lat, lon = np.array([point[0]]), np.array([point[1]])
    blat, blon = gcj02_to_bd09_array(lat, lon)
    glat, glon = bd09_to_gcj02_array(blat, blon)
    assert haversine_m(float(glat[0]), float(glon[0]), *point) < 0.5


@settings(max_examples=50)
@given(st.lists(china, min_size=1, max_size=50))
def test_vectorised_forms_match_scalar(points: list[tuple[float, float]]) -> None:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    for crs in Crs:
        alat, alon = from_wgs84_array(lat, lon, crs)
        wlat, wlon = to_wgs84_array(alat, alon, crs)
        for i, p in enumerate(points):
            assert (float(alat[i]), float(alon[i])) == from_wgs84(*p, crs)
            assert (float(wlat[i]), float(wlon[i])) == to_wgs84(*from_wgs84(*p, crs), crs)
    glat, glon = wgs84_to_gcj02_array(lat, lon)
    assert np.array_equal(glat, from_wgs84_array(lat, lon, "gcj02")[0])
    assert np.array_equal(glon, from_wgs84_array(lat, lon, "gcj02")[1])


def test_haversine_known_distances() -> None:
    assert haversine_m(*WGS, *WGS) == 0.0
    # One minute of latitude is one nautical mile (1852 m) to within the sphere's 0.5 %.
    assert haversine_m(31.0, 121.0, 31.0 + 1 / 60, 121.0) == pytest.approx(1852, rel=0.005)
    # Shanghai to Beijing, about 1,067 km great-circle.
    assert haversine_m(31.2304, 121.4737, 39.9042, 116.4074) == pytest.approx(1_067_000, rel=0.01)
