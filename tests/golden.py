"""The project's golden data (real NMEA logs, device frames).

``../shared/data`` beside the repo is the authoritative copy; ``tests/data`` is a byte-for-byte
copy in the repo, used when the repo is cloned on its own (``test_golden_copy`` keeps the two
equal).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VENDORED_DATA = REPO / "tests" / "data"


def shared_data() -> Path:
    """Return the golden data folder: the shared one when present, else the repo's copy."""
    return SHARED_DATA if SHARED_DATA.is_dir() else VENDORED_DATA


def frame(name: str) -> bytes:
    """Return golden frame ``name`` (F1, F2, F3, M1, M2) from device-frames.md."""
    text = (shared_data() / "device-frames.md").read_text(encoding="utf-8")
    match = re.search(rf"^### {name} .*?```\n(.*?)```", text, re.S | re.M)
    if match is None:
        pytest.fail(f"frame {name} not found in device-frames.md")
    return bytes.fromhex(re.sub(r"\s+", "", match.group(1)))
