"""The API's limits are settings like any other: FIREGRID_API__<FIELD>."""

from __future__ import annotations

import pytest

from api.settings import MIB
from firegrid.settings import Settings


def test_the_api_limits_have_defaults_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings().api
    assert (defaults.max_body_bytes, defaults.max_import_bytes) == (1 * MIB, 32 * MIB)
    monkeypatch.setenv("FIREGRID_API__MAX_IMPORT_BYTES", str(64 * MIB))
    monkeypatch.setenv("FIREGRID_API__POOL_SIZE", "16")
    limits = Settings().api
    assert (limits.max_import_bytes, limits.pool_size) == (64 * MIB, 16)
