"""The API against its own OpenAPI document (issue 9): schemathesis draws requests, valid and
invalid, for every operation, sends them over HTTP to the real app on the real test database
with an admin token, and checks each answer: no 5xx, a documented status code, the documented
content type, a body matching the documented schema.

Bounded and seeded: a few examples per operation under the "ci" Hypothesis profile
(derandomized, ``tests/conftest.py``), so a run takes about a minute and CI sees the same
requests every time. Write operations stay in: they hit this session's throwaway database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import ApiSettings
from tests.fix_api import bearer, open_hazard, serve

pytestmark = pytest.mark.slow

# What an answer must satisfy; the other built-in checks judge API design choices (e.g. that an
# invalid-looking value is refused) rather than conformance to the document.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Examples per operation: enough to reach each parameter's edge cases (empty, huge, wrong
# type), few enough that the whole document runs in about a minute on two cores.
MAX_EXAMPLES = 12


class Target:
    """Where the app listens and the admin header to send."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.headers = headers


@pytest.fixture(scope="module")
def target(db_url: str) -> Iterator[Target]:
    app = create_app(ApiSettings(db_url=db_url), broker_probe=lambda: True)
    open_hazard(db_url)  # something for the hazard item routes to find
    with serve(app) as base_url:
        yield Target(base_url, bearer(db_url, "admin"))


def _document() -> dict[str, Any]:
    # The document /openapi.json serves, built at collection time so that every operation is
    # its own test; making the app opens nothing (the pool opens with the lifespan).
    app = create_app(ApiSettings(db_url="postgresql://unused/"), broker_probe=lambda: True)
    return app.openapi()


# The live feed answers an endless text/event-stream: a plain HTTP call never returns.
# tests/integration/test_stream.py drives it with a streaming client instead.
schema = schemathesis.openapi.from_dict(_document()).exclude(path="/api/v1/stream", method="GET")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case: schemathesis.Case, target: Target) -> None:
    case.call_and_validate(
        base_url=target.base_url, headers=target.headers, checks=CHECKS, timeout=30
    )
