"""What each token role may do: one table, asked by every route that writes or reads beyond
its area (issue 9 point 1).

Reading lists and items is open to every role, limited to the token's areas by the routes
themselves (``Principal.sees_place``); the actions below are the rest. An action marked city-wide
is refused (403) to a token limited to areas, whatever its role: rejected messages name no
place, a grid import replaces the whole city's grids, and a registry import updates any row
whose ID it names (a device, unit or staff member of another area, moved or re-assigned) with
no place to check it against before it is written.

docs/CONTRACT-EXTENSIONS.md ("Scope, roles and tokens") shows this table to integrators;
keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from api.errors import ApiError
from api.tokens import Principal


@dataclass(frozen=True)
class Permission:
    """The roles allowed an action, and whether the token must be city-wide (no areas)."""

    roles: frozenset[str]
    city_wide: bool = False


_STAFF_DESK: Final = frozenset({"admin", "operator", "integrator"})
# Who keeps the city's registers (grids, key units, devices, staff): the administrator and the
# city platform's integration, never an operator watching its areas.
_REGISTER_KEEPERS: Final = frozenset({"admin", "integrator"})

PERMISSIONS: Final[dict[str, Permission]] = {
    "registry.import": Permission(_REGISTER_KEEPERS, city_wide=True),
    "grids.import": Permission(_REGISTER_KEEPERS, city_wide=True),
    "hazards.ack": Permission(frozenset({"admin", "operator", "grid_worker", "community_handler"})),
    "rejected.read": Permission(_STAFF_DESK, city_wide=True),
    "rejected.replay": Permission(_STAFF_DESK, city_wide=True),
    "gateway.read": Permission(_STAFF_DESK, city_wide=True),  # devices of every area
    "gateway.command": Permission(frozenset({"admin", "operator"})),
    "gateway.read_commands": Permission(_STAFF_DESK),
    "webhooks.failures": Permission(frozenset({"admin", "integrator"})),
}


def allow(principal: Principal, action: str) -> None:
    """Refuse (403) the action unless the table grants it to this principal."""
    permission = PERMISSIONS[action]
    if principal.role not in permission.roles:
        raise ApiError(
            403,
            "forbidden",
            f"this needs one of the roles: {', '.join(sorted(permission.roles))}",
        )
    if permission.city_wide and principal.areas:
        raise ApiError(
            403,
            "forbidden",
            "a token limited to areas cannot do this; use a token without --area",
        )
