"""Area scope of single items (issue 9 point 1): a token limited to areas gets 403, in the
error envelope, for an item placed outside them or placed nowhere.

Codes are compared whole at their level (``grids.codes.in_area``, through
``Principal.sees_place``), as hazards and cases are. A city-wide token (no areas) sees all and
costs no lookup.
"""

from __future__ import annotations

from api.errors import ApiError
from api.tokens import Principal
from grids.locator import GridLocator
from hazards.places import locate_subject
from infra.database import Conn


def require_place(
    caller: Principal, *, grid: str | None, community: str | None, street: str | None, what: str
) -> None:
    """Refuse (403) an item whose grid codes lie outside the caller's areas."""
    if not caller.sees_place(grid=grid, community=community, street=street):
        raise ApiError(403, "forbidden", f"{what} lies outside this token's areas")


def require_device(conn: Conn, caller: Principal, *, device_id: str, locator: GridLocator) -> None:
    """Refuse (403) a device outside the caller's areas: placed by its own registered position,
    else its unit's, else (a terminal) its latest fix; a device placed nowhere is city-wide."""
    if not caller.areas:
        return
    place = locate_subject(conn, subject_type="device", subject_id=device_id, locator=locator)
    require_place(
        caller,
        grid=place.grid_code,
        community=place.community_code,
        street=place.street_code,
        what=f"device {device_id!r}",
    )


def require_photo(conn: Conn, caller: Principal, *, sha256: str) -> None:
    """Refuse (403) a photo unless a report naming it lies inside the caller's areas (a photo
    no report names yet is city-wide)."""
    if not caller.areas:
        return
    rows = conn.execute(
        "SELECT grid_code, community_code, street_code FROM hazard_reports"
        " WHERE photos @> ARRAY[%s]::text[]",
        (sha256,),
    ).fetchall()
    if not any(caller.sees_place(grid=r[0], community=r[1], street=r[2]) for r in rows):
        raise ApiError(403, "forbidden", f"photo {sha256} lies outside this token's areas")
