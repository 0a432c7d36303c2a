"""The webhook role in a process of its own, for ``test_dispatch_webhook_kill``.

``python -m tests.integration.webhook_kill_worker DB_URL URL EVENT_ID MARKER`` queues and
delivers what is due; after the POST of EVENT_ID was answered, before the answer is recorded,
it writes MARKER and stops there for good (the test SIGKILLs it). With MARKER ``-`` it delivers
everything due and exits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pydantic import SecretStr

from dispatch.config import WebhookSettings
from dispatch.deliveries import Delivery
from dispatch.webhook import WebhookRole
from infra.database import Conn

SECRET = "whsec_" + "c2VjcmV0LW9mLXRoZS1jaXR5LXBsYXRmb3JtLTAx"


def main(db_url: str, url: str, event_id: str, marker: str) -> None:
    """Run the webhook role once over what is due, holding after one POST when told to."""

    def hold(_conn: Conn, delivery: Delivery) -> None:
        if str(delivery.event_id) != event_id:
            return
        partial = Path(f"{marker}.part")
        partial.write_text(event_id)
        partial.rename(marker)
        while True:  # posted and answered, not recorded: wait for the SIGKILL
            time.sleep(60)

    settings = WebhookSettings(url=url, secret=SecretStr(SECRET))
    role = WebhookRole(db_url=db_url, settings=settings, after_post=None if marker == "-" else hold)
    try:
        role.enqueue_pending()
        role.deliver_due()
    finally:
        role.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
