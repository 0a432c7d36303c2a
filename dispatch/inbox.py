"""The inbox role: every notify entry of every case event, to its terminal, exactly once in effect.

Consumer ``inbox`` of the event log. One transaction per claim: lock the cursor, build the
claimed events' messages (``dispatch.messages``), publish them QoS 1, wait for every PUBACK,
record them in ``inbox_messages``, advance the cursor, commit. A crash anywhere before the commit
leaves the cursor where it was, and the restarted role publishes the same messages again with
the same ``message_id`` (and the same bytes): a terminal may see a message twice, never zero
times, and tells a repeat by its id. The broker's session keeps a message for a terminal that
is offline; the PUBACK is the broker's, not the terminal's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import psycopg
from prometheus_client import Counter

from dispatch.config import InboxSettings
from dispatch.deliveries import record_inbox
from dispatch.exceptions import InboxAckError
from dispatch.messages import CASE_KINDS, InboxMessage, inbox_messages
from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import Conn
from infra.eventlog import Consumer, oldest_pending
from infra.log_driven_role import LogDrivenRole
from infra.publisher import MqttPublisher, PublishError
from infra.roles import pending_age_s

__all__ = ["INBOX_CONSUMER", "AfterAcks", "InboxRole"]

log = logging.getLogger(__name__)

INBOX_CONSUMER: Final = Consumer("inbox", kinds=CASE_KINDS)
# Called in a claim's transaction once the broker acknowledged its messages, before they are
# recorded and the cursor moves: where a test stops (or kills) the role to prove the repeat.
AfterAcks = Callable[[Conn, Sequence[InboxMessage]], None]

INBOX_SENT = Counter("firegrid_inbox_messages", "Inbox messages the broker acknowledged")


class InboxRole(LogDrivenRole):
    """Publishes case messages to terminals' inboxes from the event log (a supervised role).

    The publisher is the process's one outbound MQTT session, started and stopped by its owner.
    The database or the broker away, or the publisher's queue full of messages waiting for it:
    the role retries in place, and the events wait on the log.
    """

    retry_on = (psycopg.Error, InboxAckError, PublishError)

    def __init__(
        self,
        *,
        db_url: str,
        publisher: MqttPublisher,
        settings: InboxSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        after_acks: AfterAcks | None = None,
    ) -> None:
        self.settings = settings or InboxSettings()
        super().__init__("inbox", db_url=db_url, poll_s=self.settings.poll_s)
        self.publisher = publisher
        self.clock = clock
        self.after_acks = after_acks
        self._pending_since: datetime | None = None
        self._measured = False

    def process_pending(self) -> int:
        """Send the messages of every claimable event; return how many were acknowledged."""
        sent = 0
        while True:
            count, moved = self.process_next()
            sent += count
            if not moved:
                return sent

    def process_next(self) -> tuple[int, bool]:
        """Claim the next events, publish their messages, wait for the PUBACKs, record them and
        move the cursor, in one transaction; return (messages sent, the cursor moved)."""
        conn = self.conn
        with conn.transaction():
            claim = INBOX_CONSUMER.claim(conn, limit=self.settings.batch_events)
            self.blocked = claim.blocked
            messages = [m for event in claim.events for m in inbox_messages(event)]
            if messages:
                self._send(conn, messages)
            if claim.moved:
                INBOX_CONSUMER.advance(conn, claim.upto)
        INBOX_SENT.inc(len(messages))
        return len(messages), claim.moved

    def _send(self, conn: Conn, messages: list[InboxMessage]) -> None:
        prefix = self.settings.prefix
        sent_at = self.clock.now()
        infos = [self.publisher.publish(m.topic(prefix), m.body) for m in messages]
        left = self.publisher.wait_acked(infos, self.settings.ack_timeout_s)
        if left:
            raise InboxAckError(
                event_ids=sorted({m.event_id for m in messages}),
                pending=left,
                timeout_s=self.settings.ack_timeout_s,
            )
        if self.after_acks is not None:
            self.after_acks(conn, messages)
        record_inbox(conn, messages=messages, sent_at=sent_at, acked_at=self.clock.now())

    def measure_lag(self) -> None:
        """Look up when the oldest case event past the cursor was appended (for ``lag_s``)."""
        since = oldest_pending(self.conn, consumer=INBOX_CONSUMER.name, kinds=CASE_KINDS)
        self._pending_since, self._measured = since, True

    def lag_s(self) -> float | None:
        """Return the age of the oldest case event not yet sent (None: not measured yet)."""
        if not self._measured:
            return None
        since = self._pending_since
        return pending_age_s(since, self.clock.now())

    def round(self) -> None:
        """Send what is pending while the broker is there; say it is away otherwise."""
        if self.publisher.connected.is_set():
            self.measure_lag()
            self.set_state("running")
            self.process_pending()
            self.measure_lag()
        else:  # nothing is lost: the events wait on the log
            self.set_state("degraded", "the broker is away; messages wait")
