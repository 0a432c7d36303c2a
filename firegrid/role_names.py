"""The roles ``firegrid up --role`` names (CONTRACT §5), and which of them exist yet."""

from __future__ import annotations

from typing import Final

# CONTRACT §5 names four roles. A role named there but not built yet must fail at start: a
# process that starts nothing would look healthy. (All four are built since issue 8.)
CONTRACT_ROLES: Final = ("ingest", "rules", "dispatch", "api")
# The GB/T 26875.3 gateway (issue 11) runs where FIREGRID_GB26875 says, and nowhere without it.
BUILT_ROLES: Final = ("ingest", "rules", "dispatch", "api", "gateway")


class RoleError(ValueError):
    """A role that is unknown or not built yet: a usage error (exit 2)."""


def check_role(name: str) -> str:
    """Return ``name`` if FireGrid can run that role, else raise ``RoleError`` saying why."""
    if name in BUILT_ROLES:
        return name
    built = ", ".join(BUILT_ROLES)
    if name in CONTRACT_ROLES:
        raise RoleError(f"role {name!r} is not built yet; built roles: {built}")
    raise RoleError(f"unknown role {name!r}; built roles: {built}")
