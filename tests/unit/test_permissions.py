"""The one table of what each role may do (issue 9 point 1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.errors import ApiError
from api.permissions import PERMISSIONS, allow
from api.tokens import ROLES, Principal

AREAS = st.lists(st.sampled_from(["310115005", "310115005003", "310115005003001"]), max_size=2)


@given(st.sampled_from(sorted(ROLES)), AREAS, st.sampled_from(sorted(PERMISSIONS)))
def test_allowed_exactly_when_the_table_says(role: str, areas: list[str], action: str) -> None:
    permission = PERMISSIONS[action]
    expected = role in permission.roles and not (permission.city_wide and areas)
    principal = Principal(role=role, areas=tuple(areas))
    if expected:
        allow(principal, action)
    else:
        with pytest.raises(ApiError) as refused:
            allow(principal, action)
        assert refused.value.status == 403


def test_every_role_in_the_table_is_a_token_role() -> None:
    for permission in PERMISSIONS.values():
        assert permission.roles <= ROLES


def test_rejected_messages_need_a_city_wide_token() -> None:
    with pytest.raises(ApiError):
        allow(Principal(role="admin", areas=("310115005",)), "rejected.read")
    allow(Principal(role="admin", areas=()), "rejected.read")
    allow(Principal(role="community_handler", areas=("310115005003",)), "hazards.ack")


@pytest.mark.parametrize("action", ["registry.import", "grids.import"])
def test_imports_need_a_city_wide_admin_or_integrator(action: str) -> None:
    for role in sorted(ROLES):
        for areas in ((), ("310115005",)):
            principal = Principal(role=role, areas=areas)
            if role in {"admin", "integrator"} and not areas:
                allow(principal, action)
            else:
                with pytest.raises(ApiError) as refused:
                    allow(principal, action)
                assert refused.value.status == 403
