"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from infra.roles import RoleHealth, RoleState

router = APIRouter(tags=["system"])


class Check(BaseModel):
    """Whether a dependency answers; ``error`` (the database's only) names what failed."""

    ok: bool
    error: str | None = None  # left out of the answer when not set


class RoleReadiness(BaseModel):
    """A role's state and lag as its supervisor reports them; ``ok`` when it is ready."""

    ok: bool
    state: RoleState
    lag_s: float | None  # seconds behind its input; null when not measured
    detail: str


class Health(BaseModel):
    """Readiness of the process: the database, the broker and every role it runs."""

    status: Literal["ok", "degraded"]
    live: bool  # answering at all
    ready: bool  # 200 when true, 503 when not
    database: Check
    broker: Check
    roles: dict[str, RoleReadiness]  # by role name; empty in an app built without roles


_HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "ready: the database, the broker and every role"},
    503: {"model": Health, "description": "not ready: the parts with `ok: false` say why"},
}


# exclude_unset: a check's ``error`` appears only when it failed, as it always has.
@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_unset=True,
    responses=_HEALTH_RESPONSES,
)
def healthz(request: Request, response: Response) -> Health:
    """Answer 200 when the database, the broker and every role are ready, 503 otherwise."""
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        database = Check(ok=True)
    except Exception as exc:  # any failure means "not ready", and says why
        database = Check(ok=False, error=type(exc).__name__)
    broker = Check(ok=request.app.state.broker_probe())
    roles = _roles(request)
    ready = database.ok and broker.ok and all(r.ok for r in roles.values())
    response.status_code = 200 if ready else 503
    return Health(
        status="ok" if ready else "degraded",
        live=True,
        ready=ready,
        database=database,
        broker=broker,
        roles=roles,
    )


def _roles(request: Request) -> dict[str, RoleReadiness]:
    """Return each role's state and lag, as the runtime's supervisor reports them (no I/O).

    An app built without roles (tests, a bare ``create_app``) reports none.
    """
    role_health = getattr(request.app.state, "role_health", None)
    if role_health is None:
        return {}
    max_lag_s = float(getattr(request.app.state, "role_max_lag_s", 60.0))
    healths: Mapping[str, RoleHealth] = role_health()
    return {
        name: RoleReadiness(
            ok=health.ready(max_lag_s=max_lag_s),
            state=health.state,
            lag_s=None if health.lag_s is None else round(health.lag_s, 3),
            detail=health.detail,
        )
        for name, health in healths.items()
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def metrics() -> Response:
    """Expose Prometheus metrics of every role in this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
