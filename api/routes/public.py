"""Residents (群众点单, issue 8 point 8): a public report without a token, and its rating link.

Rate-limited per client address and per device fingerprint (``X-Device-Fingerprint`` header or
the body's ``fingerprint``), in this process's memory (``api.ratelimit``): a refused request is
429 ``rate_limited`` with ``Retry-After``. The client address is the connection's peer; behind a
reverse proxy, run the server with the proxy's forwarded headers trusted so it is the
resident's, not the proxy's.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Header, Request
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Config, Conn, Now
from api.errors import ERROR_RESPONSES, ApiError, documented
from api.ratelimit import RateLimiter
from api.settings import PublicLimits
from devices.geo import Crs, to_wgs84
from devices.models import REPORT_CATEGORIES
from dispatch.exceptions import ResidentError
from dispatch.residents import check_photos, link_state, rate_case, store_resident_report

__all__ = ["PublicLimiters", "router"]

RATINGS_PATH: Final = "/api/v1/public/ratings/"

REPORTS = Counter("firegrid_public_reports", "Residents' reports stored")
LIMITED = Counter(
    "firegrid_public_rate_limited", "Residents' reports refused by a rate limit", ["limit"]
)
RATINGS = Counter("firegrid_public_ratings", "Residents' ratings of closed cases given")

router = APIRouter(
    prefix="/api/v1/public",
    tags=["public"],
    responses={
        **ERROR_RESPONSES,
        409: documented("`already_rated`, `case_not_closed`"),
        429: documented("`rate_limited`: retry after Retry-After"),
    },
)


@dataclass(frozen=True)
class PublicLimiters:
    """The process's buckets: one limiter per client address, one per device fingerprint."""

    address: RateLimiter
    fingerprint: RateLimiter

    @classmethod
    def from_limits(cls, limits: PublicLimits) -> PublicLimiters:
        """Build both limiters from the settings."""
        return cls(
            RateLimiter(burst=limits.address_burst, per_hour=limits.address_per_hour),
            RateLimiter(burst=limits.fingerprint_burst, per_hour=limits.fingerprint_per_hour),
        )


class PublicPosition(BaseModel):
    """Where the hazard is; ``crs`` as CONTRACT §1 (a phone's map is often GCJ-02)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    crs: Crs = Crs.WGS84


class PublicReportBody(BaseModel):
    """A resident's report: what, where, and photos as base64 (JPEG or PNG)."""

    model_config = ConfigDict(extra="ignore")

    category: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)
    position: PublicPosition
    photos: list[str] = Field(default_factory=list, max_length=20)
    fingerprint: str | None = Field(default=None, min_length=1, max_length=128)


class PublicReportAnswer(BaseModel):
    """The stored report and its one-time rating link (the token is shown only here)."""

    report_id: str
    received_at: datetime
    photos: list[str]
    rating_token: str
    rating_url: str


class RatingBody(BaseModel):
    """A resident's rating of the closed case: 1 (bad) to 5 (good), and a comment."""

    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)


class RatingAnswer(BaseModel):
    """The rating as kept."""

    case_id: str
    rating: int
    comment: str
    rated_at: datetime


def _limiters(request: Request) -> PublicLimiters:
    limiters: PublicLimiters = request.app.state.public_limiters
    return limiters


def _admit(request: Request, fingerprint: str | None, now: datetime) -> None:
    """Take a token from each bucket that applies, or answer 429 taking none."""
    limiters = _limiters(request)
    address = request.client.host if request.client else "unknown"
    checks = [("address", limiters.address, address)]
    if fingerprint:
        checks.append(("fingerprint", limiters.fingerprint, fingerprint))
    # Ask every bucket before taking from any: a refusal by one must not spend the other's.
    for name, limiter, key in checks:
        wait = limiter.wait_s(key, now)
        if wait:
            LIMITED.labels(name).inc()
            raise ApiError(
                429,
                "rate_limited",
                f"too many reports from this {name}; try again in {wait} s",
                details={"limit": name, "retry_after_s": wait},
                headers={"Retry-After": str(wait)},
            )
    for _, limiter, key in checks:
        limiter.take(key, now)


def _decode_photo(i: int, text: str) -> bytes:
    if text.startswith("data:"):  # a data URL from a browser's FileReader
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "bad_photo", f"photos[{i}] is not base64") from exc


def _refuse(exc: ResidentError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, details=exc.details)


@router.post("/reports", response_model=PublicReportAnswer)
def post_public_report(
    *,
    body: PublicReportBody,
    request: Request,
    conn: Conn,
    clock: Now,
    config: Config,
    x_device_fingerprint: Annotated[str | None, Header(max_length=128)] = None,
) -> PublicReportAnswer:
    """File a resident's report (no token): it becomes a hazard and a case like a worker's.

    Committed before this answers; the answer's rating link works once, after the case closed.
    """
    now = clock.now()
    _admit(request, x_device_fingerprint or body.fingerprint, now)
    if body.category not in REPORT_CATEGORIES:
        raise ApiError(
            422,
            "bad_category",
            f"category {body.category!r} is not one of CONTRACT §1's",
            details={"allowed": sorted(REPORT_CATEGORIES)},
        )
    limits = config.limits.public
    raws = [_decode_photo(i, p) for i, p in enumerate(body.photos)]
    lat, lon = to_wgs84(body.position.lat, body.position.lon, body.position.crs)
    try:
        photos = check_photos(raws, max_bytes=limits.max_photo_bytes, max_photos=limits.max_photos)
        got = store_resident_report(
            conn,
            category=body.category,
            description=body.description,
            lat=lat,
            lon=lon,
            photos=photos,
            data_dir=config.data_dir,
            now=now,
        )
    except ResidentError as exc:
        raise _refuse(exc) from exc
    REPORTS.inc()  # counted before the commit: a failing commit over-counts by one, never hides
    return PublicReportAnswer(
        report_id=got.report_id,
        received_at=got.received_at,
        photos=got.photos,
        rating_token=got.rating_token,
        rating_url=RATINGS_PATH + got.rating_token,
    )


class LinkAnswer(BaseModel):
    """Where the resident's report stands: its case (once filed) and the rating, if given."""

    report_id: str
    case_id: str | None
    status: str | None
    rateable: bool
    rating: int | None
    rated_at: datetime | None


@router.get("/ratings/{token}", response_model=LinkAnswer)
def get_rating_link(token: str, *, conn: Conn) -> LinkAnswer:
    """Show the link's report and case: whether it can be rated now, or how it was rated."""
    try:
        s = link_state(conn, token=token)
    except ResidentError as exc:
        raise _refuse(exc) from exc
    return LinkAnswer(
        report_id=s.report_id,
        case_id=s.case_id,
        status=s.status,
        rateable=s.status == "closed" and s.rating is None,
        rating=s.rating,
        rated_at=s.rated_at,
    )


@router.post("/ratings/{token}", response_model=RatingAnswer)
def post_rating(token: str, *, body: RatingBody, conn: Conn, clock: Now) -> RatingAnswer:
    """Rate the closed case of a resident's report, once (no token beyond the link's)."""
    try:
        rated = rate_case(
            conn, token=token, rating=body.rating, comment=body.comment, now=clock.now()
        )
    except ResidentError as exc:
        raise _refuse(exc) from exc
    RATINGS.inc()
    return RatingAnswer(
        case_id=rated.case_id, rating=rated.rating, comment=rated.comment, rated_at=rated.rated_at
    )
