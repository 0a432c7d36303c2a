"""The firegrid CLI run as a user runs it: a child process on a test database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_cli(
    *args: str, db_url: str, timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``firegrid --db-url DB_URL ARGS`` in a child process; return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "firegrid.cli", "--db-url", db_url, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
