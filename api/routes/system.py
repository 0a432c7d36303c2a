"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """Answer 200 when the database and the broker are reachable, 503 otherwise."""
    checks: dict[str, Any] = {}
    try:
        with request.app.state.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure means "not ready", and says why
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    broker_ok = request.app.state.broker_probe()
    checks["broker"] = {"ok": broker_ok}
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ready else "degraded", "live": True, "ready": ready, **checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Expose Prometheus metrics of every role in this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
