"""Unknown query parameters are a 400: a misspelt or unsupported filter must not be ignored.

Without this check ``GET /hazards?severty=critical`` would answer every hazard, and the caller
would believe the list was filtered. The dependency runs on every route (``create_app``) and
compares the request's parameters with those the matched route declares, its dependencies'
included.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.errors import ApiError


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """Return the query parameter names ``route`` reads (by alias, as a client sends them)."""
    # Not cached: routes are unhashable, and the walk over a few dependencies costs microseconds.
    names: set[str] = set()
    # Walked by hand: FastAPI's own flattening helpers are private and change between versions.
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def reject_unknown_query(request: Request) -> None:
    """Answer 400 ``unknown_parameter`` when the request has a query parameter its route lacks."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = declared_query_names(route)
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown)}",
            {"unknown": unknown, "allowed": sorted(allowed)},
        )
