"""Cases (CONTRACT §4): list, one with its history, and actions by the token's staff member."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Caller, Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError, documented
from api.pagination import MAX_LIMIT, Page, cursor_text, cursor_time, decode_cursor, page
from api.routes.terminals import PHOTO_RESPONSES, photo_bytes, photo_sha
from devices.geo import Crs, to_wgs84
from devices.timefmt import BadTime, parse_ts
from dispatch.actions import apply_action
from dispatch.assign import staff_by_id
from dispatch.models import ActionKind, CaseAction, CaseStatus, Deadlines
from dispatch.service import get_case, history, list_cases
from dispatch.views import CaseView, case_view
from ingest.terminals.read import get_photo, get_report

router = APIRouter(prefix="/api/v1", tags=["cases"], responses=ERROR_RESPONSES)

# A refusal's HTTP status: who may not act (403), what the state does not allow (409), what
# the action lacks (422), what does not exist (404).
_STATUS: Final = {
    "not_found": 404,
    "unknown_staff": 403,
    "not_assignee": 403,
    "not_handler": 403,
    "not_in_area": 403,
    "same_person": 403,
    "not_allowed_in_state": 409,
    "not_approver": 403,
    "suspended": 409,
    "not_suspended": 409,
    "no_deadline": 409,
    "request_pending": 409,
    "request_decided": 409,
    "request_stale": 409,
    "no_request": 404,
}


def _until(value: str | int | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_ts(value)
    except BadTime as exc:
        raise ApiError(422, "bad_until", f"until: {exc.detail}") from None


class Position(BaseModel):
    """Where the actor was; ``crs`` as CONTRACT §1 (default WGS-84)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    crs: Crs = Crs.WGS84


class ActionBody(BaseModel):
    """The case action of CONTRACT §1 (``case_id`` optional here: the path names it)."""

    model_config = ConfigDict(extra="ignore")

    action_id: str = Field(min_length=1, max_length=64)
    case_id: str | None = None
    action: ActionKind
    ts: str | int | None = None
    note: str = Field(default="", max_length=4000)
    photos: list[str] = Field(default_factory=list, max_length=20)
    position: Position | None = None
    result: Literal["pass", "fail"] | None = None
    assignee: str | None = None
    until: str | int | None = None  # extend: the deadline asked for (a CONTRACT §1 time)
    request_id: str | None = Field(default=None, max_length=64)  # approve / refuse


class ActionAnswer(BaseModel):
    """What an action came to, and the case as it now stands."""

    outcome: dict[str, Any]
    case: CaseView


def _cursor(p: dict[str, Any]) -> tuple[Any, str]:
    return cursor_time(p["created_at"]), cursor_text(p["id"])


@router.get("/cases", response_model=Page[CaseView], response_model_exclude_none=False)
def get_cases(
    *,
    conn: Conn,
    caller: Caller,
    status: CaseStatus | None = None,
    grid: str | None = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: str | None = None,
    crs: Crs = Crs.WGS84,
) -> Page[CaseView]:
    """List cases, newest first; ``grid`` takes a grid, community or street code."""
    rows = list_cases(
        conn,
        status=status,
        area=grid,
        assignee=assignee,
        areas=caller.areas,
        before=decode_cursor(cursor, _cursor),
        limit=limit,
    )
    items = [case_view(r, crs=crs) for r in rows]
    last = rows[-1] if rows else None
    position = {"created_at": last.created_at.isoformat(), "id": last.case_id} if last else None
    return page(items, limit=limit, position=position)


def _visible(conn: Conn, caller: Caller, case_id: str) -> None:
    case = get_case(conn, case_id=case_id)
    # Outside the caller's areas is answered like missing: no existence leak.
    if case is None or not caller.sees_place(
        grid=case.grid_code, community=case.community_code, street=case.street_code
    ):
        raise ApiError(404, "not_found", f"no case {case_id}")


@router.get("/cases/{case_id}", response_model=CaseView)
def get_one_case(case_id: str, conn: Conn, caller: Caller, crs: Crs = Crs.WGS84) -> CaseView:
    """Return one case with its history."""
    _visible(conn, caller, case_id)
    case = get_case(conn, case_id=case_id)
    assert case is not None
    return case_view(case, steps=history(conn, case_id=case_id), crs=crs)


@router.get("/cases/{case_id}/photos/{sha256}", response_class=Response, responses=PHOTO_RESPONSES)
def get_case_photo(
    case_id: str, sha256: str, conn: Conn, caller: Caller, config: Config
) -> Response:
    """Return the bytes of a photo the case names (a step's or its reports' evidence).

    Scoped by the case, not by the photo: a handler sees the photos of the cases they see,
    including those of steps that no hazard report names (``/photos/{sha256}`` cannot place
    those, so an area-limited token is refused them there).
    """
    _visible(conn, caller, case_id)
    sha = photo_sha(sha256)
    if sha is None or sha not in _case_photos(conn, case_id):
        raise ApiError(404, "not_found", f"case {case_id} has no photo {sha256!r}")
    found = get_photo(conn, sha256=sha)
    if found is None:
        # Named by a step or report, its bytes not received yet: terminals send photos apart.
        raise ApiError(404, "not_found", f"photo {sha} has not arrived yet")
    return photo_bytes(found, sha=sha, settings=config)


def _case_photos(conn: Conn, case_id: str) -> set[str]:
    case = get_case(conn, case_id=case_id)
    assert case is not None
    named = {p for step in history(conn, case_id=case_id) for p in step.photos}
    for report_id in case.report_ids:
        report = get_report(conn, report_id=report_id)
        if report is not None:
            named.update(report.photos)
    return named


@router.post(
    "/cases/{case_id}/actions",
    response_model=ActionAnswer,
    responses={409: documented("the case's state does not allow it (`not_allowed_in_state`, ...)")},
)
def post_action(
    case_id: str,
    *,
    body: ActionBody,
    request: Request,
    conn: Conn,
    caller: Caller,
    clock: Now,
    config: Config,
) -> ActionAnswer:
    """Apply a case action as the token's staff member; a repeat answers the first outcome.

    Committed before this answers (``api.deps.get_conn``); a refusal is the error envelope.
    """
    if caller.staff_id is None:
        raise ApiError(
            403, "no_staff", "this token names no staff member (firegrid token create --staff)"
        )
    if body.case_id is not None and body.case_id != case_id:
        raise ApiError(400, "case_mismatch", f"body names {body.case_id}, path {case_id}")
    _visible(conn, caller, case_id)
    lat = lon = None
    if body.position is not None:
        lat, lon = to_wgs84(body.position.lat, body.position.lon, body.position.crs)
    action = CaseAction(
        action_id=body.action_id,
        case_id=case_id,
        action=body.action,
        note=body.note,
        photos=[p.lower() for p in body.photos],
        lat=lat,
        lon=lon,
        result=body.result,
        assignee=body.assignee,
        until=_until(body.until),
        request_id=body.request_id,
    )
    deadlines: Deadlines = request.app.state.deadlines
    actor = staff_by_id(conn, staff_ids=[caller.staff_id]).get(caller.staff_id)
    outcome = apply_action(
        conn,
        action=action,
        actor=actor,
        deadlines=deadlines,
        settings=config.dispatch,
        now=clock.now(),
    )
    if outcome.status == "refused":
        code = outcome.code or "refused"
        raise ApiError(
            _STATUS.get(code, 422),
            code,
            outcome.reason or "refused",
            {"action_id": outcome.action_id, "case_id": case_id, "status": outcome.case_status},
        )
    case = get_case(conn, case_id=case_id)
    assert case is not None
    answer = outcome.to_json() | {"repeat": outcome.repeat}
    return ActionAnswer(outcome=answer, case=case_view(case))
