"""The dispatch role's sweep in a process of its own, for ``test_dispatch_sweep_kill``.

``python -m tests.integration.sweep_kill_worker DB_URL NOW BATCH KILL_AT`` sweeps at NOW (ISO
8601) in batches of BATCH cases; with KILL_AT > 0 it SIGKILLs itself in the KILL_AT-th batch,
after the batch's effects and before its commit. KILL_AT 0 sweeps everything and exits.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime

from dispatch.config import DispatchSettings
from dispatch.deadlines_file import load_deadlines
from dispatch.flows import DispatchService
from infra.clock import FixedClock


def main(db_url: str, now: str, batch: str, kill_at: str) -> None:
    """Sweep once at ``now``, dying in batch ``kill_at`` when told to."""
    role = DispatchService(
        db_url=db_url,
        settings=DispatchSettings(sweep_batch=int(batch)),
        clock=FixedClock(datetime.fromisoformat(now)),
        deadlines=load_deadlines(),
    )
    batches = 0

    def die() -> None:
        nonlocal batches
        batches += 1
        if batches == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)  # effects made, nothing committed

    role.sweep_hook = die
    try:
        stats = role.sweep()
    finally:
        role.close()
    print(stats.cases, stats.reminders, stats.escalations)


if __name__ == "__main__":
    main(*sys.argv[1:5])
