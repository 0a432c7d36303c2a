"""The project's golden data in ``../shared/data`` (real NMEA logs, device frames)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data() -> Path:
    """Return the shared data folder, failing clearly when the checkout lacks it."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"golden data not found at {SHARED_DATA}: shared/ must sit beside the repo")
    return SHARED_DATA


def frame(name: str) -> bytes:
    """Return golden frame ``name`` (F1, F2, F3, M1, M2) from device-frames.md."""
    text = (shared_data() / "device-frames.md").read_text(encoding="utf-8")
    match = re.search(rf"^### {name} .*?```\n(.*?)```", text, re.S | re.M)
    if match is None:
        pytest.fail(f"frame {name} not found in device-frames.md")
    return bytes.fromhex(re.sub(r"\s+", "", match.group(1)))
