"""Closure's evidence: a verification needs photos and a position near the case. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping

from dispatch.models import Case, CaseAction
from dispatch.workflow import Refusal

__all__ = ["EARTH_RADIUS_M", "check_verify_evidence", "distance_m"]

EARTH_RADIUS_M = 6_371_008.8  # mean radius: metres of error at 50 m are far below GNSS noise


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in metres between two WGS-84 points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_verify_evidence(
    case: Case,
    action: CaseAction,
    *,
    photo_positions: Mapping[str, tuple[float, float] | None],
    max_distance_m: float,
) -> Refusal | None:
    """Return why a passing verification lacks evidence, or None when it has enough.

    ``photo_positions`` maps each photo the action names that the service holds to its EXIF
    position (None: the photo states none). A photo not yet received is not evidence.
    """
    if action.result == "fail":
        return None  # a rejection of the fix needs no proof that it was fixed
    if not action.photos:
        return Refusal("photo_required", "a verification needs at least one photo")
    missing = [p for p in action.photos if p not in photo_positions]
    if len(missing) == len(action.photos):
        return Refusal("photo_missing", f"none of the photos has arrived yet: {', '.join(missing)}")
    if action.lat is None or action.lon is None:
        return Refusal("position_required", "a verification needs the verifier's position")
    return _near(case, action.lat, action.lon, photo_positions, max_distance_m)


def _near(
    case: Case,
    lat: float,
    lon: float,
    photo_positions: Mapping[str, tuple[float, float] | None],
    max_distance_m: float,
) -> Refusal | None:
    if case.lat is None or case.lon is None:
        return None  # a case without a location can only be checked by the photo
    away = distance_m(lat, lon, case.lat, case.lon)
    if away > max_distance_m:
        return Refusal(
            "too_far",
            f"the verification was made {away:.0f} m from the case; at most"
            f" {max_distance_m:.0f} m is accepted",
        )
    for sha, where in photo_positions.items():
        if where is None:
            continue
        off = distance_m(where[0], where[1], case.lat, case.lon)
        if off > max_distance_m:
            return Refusal(
                "photo_too_far",
                f"photo {sha[:12]}… was taken {off:.0f} m from the case (EXIF); at most"
                f" {max_distance_m:.0f} m is accepted",
            )
    return None
