"""The webhook role: case events (and critical hazards opening) POSTed to the city platform.

Consumer ``webhook`` of the event log, in two steps so that one failing delivery never holds the
others back:

1. Queue: claim events, add a row per wanted event to ``webhook_deliveries`` (due now), advance
   the cursor, in one transaction. The queue is the durable record from then on.
2. Deliver: lock the delivery due longest, POST it signed (Standard Webhooks: ``webhook-id`` is
   the event id, the same on every try), record the answer and commit. A failure is retried
   after a doubling back-off; after ``max_attempts`` it is marked failed and listed
   (``GET /api/v1/webhooks/failures``) until replayed.

A crash between a POST and its record repeats the POST with the same ``webhook-id``: receivers
drop repeats by it, as the Standard Webhooks spec asks. Deliveries are not ordered: a retry may
arrive after later events; the body's ``timestamp`` tells the step's time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

import httpx
from prometheus_client import Counter

from dispatch.config import WebhookSettings
from dispatch.deliveries import Delivery, claim_due, enqueue_webhooks, oldest_due, record_attempt
from dispatch.messages import WEBHOOK_KINDS, backoff, webhook_wanted
from dispatch.signing import headers
from infra.clock import SYSTEM_CLOCK, Clock
from infra.database import Conn
from infra.eventlog import Consumer
from infra.log_driven_role import LogDrivenRole
from infra.roles import pending_age_s

__all__ = ["WEBHOOK_CONSUMER", "AfterPost", "WebhookRole"]

log = logging.getLogger(__name__)

WEBHOOK_CONSUMER: Final = Consumer("webhook", kinds=WEBHOOK_KINDS)
_ERROR_CHARS: Final = 500  # of a failed answer's body or an exception, kept as last_error

# Called in a delivery's transaction after the POST was answered, before the answer is recorded:
# where a test stops (or kills) the role to prove a repeat keeps its webhook-id.
AfterPost = Callable[[Conn, Delivery], None]

ATTEMPTS = Counter("firegrid_webhook_attempts", "Webhook POSTs by outcome", ["outcome"])


class WebhookRole(LogDrivenRole):
    """Queues case events for the webhook and delivers them, retrying with back-off."""

    def __init__(
        self,
        *,
        db_url: str,
        settings: WebhookSettings,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.BaseTransport | None = None,
        after_post: AfterPost | None = None,
    ) -> None:
        super().__init__("webhook", db_url=db_url, poll_s=settings.poll_s)
        if settings.url is None or settings.secret is None:
            raise ValueError("the webhook role needs a URL and a secret")
        self.settings = settings
        self.url: str = settings.url
        self.clock = clock
        self.after_post = after_post
        # No redirects: a signed POST goes where it was configured to go, or fails.
        self.http = httpx.Client(
            timeout=settings.timeout_s, follow_redirects=False, transport=transport
        )
        self._due_since: datetime | None = None
        self._measured = False

    # ---- step 1: the queue --------------------------------------------------------------

    def enqueue_pending(self) -> int:
        """Queue a delivery for every wanted event past the cursor; return how many."""
        queued = 0
        conn = self.conn
        while True:
            with conn.transaction():
                claim = WEBHOOK_CONSUMER.claim(conn)
                self.blocked = claim.blocked
                wanted = [e for e in claim.events if webhook_wanted(e)]
                queued += enqueue_webhooks(conn, events=wanted, now=self.clock.now())
                if claim.moved:
                    WEBHOOK_CONSUMER.advance(conn, claim.upto)
            if not claim.moved:
                return queued

    # ---- step 2: deliveries -------------------------------------------------------------

    def deliver_due(self, *, limit: int = 1000) -> int:
        """Try every delivery due now (at most ``limit``); return how many tries were made."""
        tries = 0
        conn = self.conn
        # A stopping role ends between tries: a try in flight runs to its answer or timeout.
        while tries < limit and not self.stopping.is_set():
            with conn.transaction():
                now = self.clock.now()
                delivery = claim_due(conn, now=now)
                if delivery is None:
                    return tries
                self._attempt(conn, delivery, now)
            tries += 1
        return tries

    def _attempt(self, conn: Conn, delivery: Delivery, now: datetime) -> None:
        body = delivery.body.encode()
        assert self.settings.secret is not None  # checked in __init__
        sent = headers(
            self.settings.secret.get_secret_value(),
            msg_id=str(delivery.event_id),
            timestamp=int(now.timestamp()),
            body=body,
        )
        status: int | None = None
        error: str | None = None
        try:
            answer = self.http.post(
                self.url, content=body, headers={**sent, "content-type": "application/json"}
            )
            status = answer.status_code
            if not answer.is_success:
                error = f"HTTP {status}: {answer.text[:_ERROR_CHARS]}"
        except httpx.HTTPError as exc:  # refused, timed out, reset: the receiver is away
            error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        if self.after_post is not None:
            self.after_post(conn, delivery)
        attempts = delivery.attempts + 1
        retry_at = None
        if error is not None and attempts < self.settings.max_attempts:
            retry_at = now + backoff(
                attempts,
                initial_s=self.settings.backoff_initial_s,
                max_s=self.settings.backoff_max_s,
            )
        outcome = "delivered" if error is None else "retry" if retry_at else "failed"
        ATTEMPTS.labels(outcome=outcome).inc()
        if outcome == "failed":
            log.warning("webhook: event %s failed %d times: %s", delivery.event_id, attempts, error)
        record_attempt(
            conn,
            event_id=delivery.event_id,
            at=now,
            status=status,
            error=error,
            delivered=error is None,
            retry_at=retry_at,
        )

    # ---- the role -----------------------------------------------------------------------

    def measure_lag(self) -> None:
        """Look up the longest-waiting due delivery (for ``lag_s``)."""
        self._due_since, self._measured = oldest_due(self.conn, now=self.clock.now()), True

    def lag_s(self) -> float | None:
        """Return how long the longest-waiting due delivery has waited (None: not measured)."""
        if not self._measured:
            return None
        since = self._due_since
        return pending_age_s(since, self.clock.now())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread, then close the connection and the HTTP client."""
        super().stop(timeout_s)
        self.http.close()

    def round(self) -> None:
        """Queue what the log holds for the webhook, then try every delivery due."""
        self.set_state("running")
        self.enqueue_pending()
        self.deliver_due()
        self.measure_lag()
