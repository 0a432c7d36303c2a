"""The inbox role in a process of its own, for ``test_dispatch_inbox_kill``.

``python -m tests.integration.inbox_kill_worker DB_URL MQTT_URL PREFIX MARKER`` sends the
pending inbox messages; once the broker acknowledged the first claim's messages, before they
are recorded and the cursor moves, it writes MARKER (the message ids) and stops there for good
(the test SIGKILLs it). With MARKER ``-`` it sends everything and exits.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from dispatch.config import InboxSettings
from dispatch.inbox import InboxRole
from dispatch.messages import InboxMessage
from infra.database import Conn
from infra.publisher import MqttPublisher


def main(db_url: str, mqtt_url: str, prefix: str, marker: str) -> None:
    """Run the inbox role over the pending events, holding after the PUBACKs when told to."""

    def hold(_conn: Conn, messages: Sequence[InboxMessage]) -> None:
        # Written whole, then renamed: the test never reads a half-written marker.
        partial = Path(f"{marker}.part")
        partial.write_text("".join(f"{m.message_id}\n" for m in messages))
        partial.rename(marker)
        while True:  # acknowledged by the broker, not recorded: wait for the SIGKILL
            time.sleep(60)

    publisher = MqttPublisher(mqtt_url, client_id=f"inbox-kill-{uuid.uuid4().hex[:8]}")
    publisher.start()
    if not publisher.connected.wait(10):
        raise SystemExit("the publisher could not connect")
    role = InboxRole(
        db_url=db_url,
        publisher=publisher,
        settings=InboxSettings(prefix=prefix),
        after_acks=None if marker == "-" else hold,
    )
    try:
        role.process_pending()
    finally:
        role.close()
        publisher.stop()


if __name__ == "__main__":
    main(*sys.argv[1:5])
