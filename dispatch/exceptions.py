"""Dispatch's errors: one root, subclasses carrying what went wrong."""

from __future__ import annotations

__all__ = ["CaseRulesError", "DispatchError", "InboxAckError", "ResidentError"]


class DispatchError(Exception):
    """The root of every error dispatch raises."""


class InboxAckError(DispatchError):
    """The broker did not acknowledge every inbox message of a claim in time.

    The claim's transaction rolls back (the cursor stays); the role tries again, and a message
    the broker did receive meanwhile is sent again with the same ``message_id``.
    """

    def __init__(self, *, event_ids: list[int], pending: int, timeout_s: float) -> None:
        super().__init__(
            f"{pending} inbox messages of events {event_ids[0]}..{event_ids[-1]} not acknowledged"
            f" within {timeout_s:.1f}s"
        )
        self.event_ids = event_ids
        self.pending = pending
        self.timeout_s = timeout_s


class CaseRulesError(DispatchError):
    """The case rules file is unusable: which file and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ResidentError(DispatchError):
    """A resident's report or rating refused: a stable code, the HTTP status it answers."""

    def __init__(
        self, code: str, message: str, *, status: int, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details
