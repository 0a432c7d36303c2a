"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from infra.roles import RoleHealth

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Answer 200 when the database, the broker and every role are ready, 503 otherwise."""
    checks: dict[str, Any] = {}
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure means "not ready", and says why
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    broker_ok = request.app.state.broker_probe()
    checks["broker"] = {"ok": broker_ok}
    roles = _roles(request)
    ready = all(c["ok"] for c in checks.values()) and all(r["ok"] for r in roles.values())
    body = {
        "status": "ok" if ready else "degraded",
        "live": True,
        "ready": ready,
        **checks,
        "roles": roles,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def _roles(request: Request) -> dict[str, dict[str, Any]]:
    """Return each role's state and lag, as the runtime's supervisor reports them (no I/O).

    An app built without roles (tests, a bare ``create_app``) reports none.
    """
    role_health = getattr(request.app.state, "role_health", None)
    if role_health is None:
        return {}
    max_lag_s = float(getattr(request.app.state, "role_max_lag_s", 60.0))
    healths: Mapping[str, RoleHealth] = role_health()
    return {
        name: {
            "ok": health.ready(max_lag_s=max_lag_s),
            "state": health.state,
            "lag_s": None if health.lag_s is None else round(health.lag_s, 3),
            "detail": health.detail,
        }
        for name, health in healths.items()
    }


@router.get("/metrics")
def metrics() -> Response:
    """Expose Prometheus metrics of every role in this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
