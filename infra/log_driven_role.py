"""A role woken by the event log: a round of work whenever something is appended, or every
``poll_s`` at the latest, retrying in place while the database (or whatever it names) is away.

Dispatch, the inbox and the webhook roles are this loop with their own round of work; the
rules role keeps a loop of its own (it also reloads its rules file and runs clock ticks, and
distinguishes a broken engine from an absent database).
"""

from __future__ import annotations

import logging
from typing import ClassVar, Final

import psycopg

from infra.database import Conn, connect
from infra.listener import shared
from infra.roles import ThreadRole

__all__ = ["LogDrivenRole", "first_line"]

log = logging.getLogger(__name__)

# How soon to look again while the log has a gap that may still fill (a transaction that took
# an id is still running): its commit sends no wake-up of its own to this role.
GAP_WAIT_S: Final = 0.02


def first_line(exc: BaseException) -> str:
    """Return the first line of an error's message (its repr when it has none)."""
    return (str(exc).strip().splitlines() or [repr(exc)])[0]


class LogDrivenRole(ThreadRole):
    """A ThreadRole whose ``run`` calls ``round`` each time the event log wakes it.

    ``round`` does one pass of work and sets the role's state; it sets ``self.blocked`` when the
    log had a gap, so the next look comes soon. An error of a type in ``retry_on`` makes the
    role ``degraded``: the connection is closed and the round tried again ``poll_s`` later (the
    work waits on the log, nothing is lost). Any other error ends the role as ``failed``, for
    its supervisor to replace.
    """

    retry_on: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, name: str, *, db_url: str, poll_s: float) -> None:
        super().__init__(name)
        self.db_url = db_url
        self.poll_s = poll_s
        self.blocked = False  # the log has a gap that may still fill: look again soon
        self._conn: Conn | None = None

    @property
    def conn(self) -> Conn:
        """Return the role's connection (autocommit; each claim is one transaction)."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.db_url, application_name=f"firegrid-{self.name}")
        return self._conn

    def close(self) -> None:
        """Close the connection (the next use opens a new one)."""
        if self._conn is not None:
            self._conn.close()

    def round(self) -> None:
        """Do one pass of the role's work and set its state."""
        raise NotImplementedError

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and close the connection."""
        super().stop(timeout_s)
        self.close()

    def run(self) -> None:
        """Run rounds until stopped; the log's listener wakes it, ``poll_s`` is the fallback."""
        wake = shared(self.db_url).wakeup()
        try:
            while not self.stopping.is_set():
                try:
                    self.round()
                    wake.wait(GAP_WAIT_S if self.blocked else self.poll_s)
                except self.retry_on as exc:
                    first = first_line(exc)
                    if isinstance(exc, psycopg.Error):
                        first = f"database: {first}"
                    log.warning("%s role: %s; retrying", self.name, first)
                    self.set_state("degraded", first)
                    self.close()
                    self.stopping.wait(self.poll_s)
        finally:
            wake.close()
