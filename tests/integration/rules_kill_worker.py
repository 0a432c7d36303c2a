"""The rules role in a process of its own, for ``test_rules_kill``.

``python -m tests.integration.rules_kill_worker DB_URL DEVICE MARKER`` processes the pending
batches; inside the transaction of the first batch that raised a hazard of DEVICE, after the
effects and before the cursor moves and commits, it writes MARKER and stops there for good (the
test SIGKILLs it). With MARKER ``-`` it processes everything and exits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.database import Conn
from rules.config import RulesSettings
from rules.flows import RulesService


def main(db_url: str, device: str, marker: str) -> None:
    """Run the rules over the pending batches, holding at the failpoint when given a marker."""

    def hold(conn: Conn, batch_id: int) -> None:
        row = conn.execute(
            "SELECT count(*) FROM hazards WHERE device_id = %s", (device,)
        ).fetchone()
        if row is not None and row[0]:
            # Written whole, then renamed: the test never reads a half-written marker.
            partial = Path(f"{marker}.part")
            partial.write_text(f"{batch_id} {row[0]}\n")
            partial.rename(marker)
            while True:  # the effects are written, uncommitted: wait for the SIGKILL
                time.sleep(60)

    rules = RulesService(
        db_url=db_url, settings=RulesSettings(), before_commit=None if marker == "-" else hold
    )
    try:
        rules.process_pending()
    finally:
        rules.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
