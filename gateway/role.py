"""The gateway as a supervised role of ``firegrid up``: an asyncio loop in the role's thread.

Started when ``FIREGRID_GB26875`` names where to listen. It is ``running`` once the socket is
bound; ``failed`` (the supervisor restarts it) when its writer ends with an error the database
does not explain, and its lag is how long the oldest frame has waited for its commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from gateway.command_flows import CommandSender
from gateway.command_service import MissedCheck
from gateway.config import GatewaySettings, parse_listen
from gateway.flows import BeforeStore, Gateway
from gateway.service import FrameStore, missed_check_events
from infra.clock import SYSTEM_CLOCK, Clock
from infra.roles import ThreadRole, pending_age_s
from ingest.config import IngestSettings, StorageSettings
from ingest.flows import BatchWriter

log = logging.getLogger(__name__)


class GatewayRole(ThreadRole):
    """Serves GB/T 26875.3 devices on ``listen`` and stores their frames through ingest."""

    def __init__(
        self,
        *,
        listen: str,
        db_url: str,
        settings: GatewaySettings,
        ingest: IngestSettings,
        storage: StorageSettings,
        clock: Clock = SYSTEM_CLOCK,
        before_store: BeforeStore | None = None,
    ) -> None:
        super().__init__("gateway")
        self._host, self._port = parse_listen(listen)
        self._clock = clock
        self._writer = BatchWriter(db_url=db_url, settings=ingest, storage=storage)
        store = FrameStore(self._writer, prefix=ingest.topic_prefix)
        # The commands' own writer: a BatchWriter holds one connection, used by one thread.
        self._command_writer = BatchWriter(db_url=db_url, settings=ingest, storage=storage)
        prefix = ingest.topic_prefix

        def record_missed(checks: Sequence[MissedCheck]) -> None:
            events = missed_check_events(checks, prefix=prefix, now=clock.now())
            self._command_writer.write(events)

        commands = CommandSender(
            db_url,
            clock=clock,
            poll_s=settings.command_poll_s,
            resend_after_s=settings.command_resend_s,
            attempts=settings.command_attempts,
            record_missed=record_missed,
        )
        self.gateway = Gateway(
            store.store,
            settings=settings,
            clock=clock,
            before_store=before_store,
            commands=commands,
        )

    def run(self) -> None:
        """Serve until stopped."""
        try:
            asyncio.run(self._serve())
        except Exception:
            if not self.stopping.is_set():
                raise
            log.info("gateway stopped while storing a batch; its frames go unanswered")
        finally:
            self._writer.close()
            self._command_writer.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving: close every connection, end a database retry, wait for the thread."""
        self._writer.stopping.set()  # a batch retrying against an absent database gives up
        self._command_writer.stopping.set()
        self.gateway.stop()
        super().stop(timeout_s)

    def lag_s(self) -> float | None:
        """Return how long the oldest frame has waited for its commit."""
        queue = self.gateway.queue
        oldest = queue.oldest() if queue is not None else None
        return pending_age_s(oldest.received_at if oldest else None, self._clock.now())

    async def _serve(self) -> None:
        await self.gateway.serve(self._host, self._port, ready=lambda: self.set_state("running"))
