"""The repo's copy of the golden data equals the shared original, byte for byte."""

from __future__ import annotations

import pytest

from tests.golden import SHARED_DATA, VENDORED_DATA


def test_vendored_golden_data_equals_the_shared_original() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data beside the repo ({SHARED_DATA}) to compare with")
    shared = sorted(p.relative_to(SHARED_DATA) for p in SHARED_DATA.rglob("*") if p.is_file())
    assert shared, "the shared data folder is empty"
    for rel in shared:
        copy = VENDORED_DATA / rel
        assert copy.is_file(), f"tests/data/{rel} is missing: copy it from {SHARED_DATA}"
        assert copy.read_bytes() == (SHARED_DATA / rel).read_bytes(), f"tests/data/{rel} differs"
