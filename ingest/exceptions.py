"""Errors of the ingest path."""

from __future__ import annotations


class IngestError(Exception):
    """Root of every error the ingest package raises."""


class TopicError(IngestError):
    """A topic that is not one of CONTRACT §1's shapes."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"{topic!r}: {reason}")


class BrokerUnavailable(IngestError):  # noqa: N818 - public name, kept for callers
    """The MQTT broker could not be reached or refused the connection."""


class PhotoStoreError(IngestError):
    """Photo bytes could not be written to the data directory (full disk, permissions)."""
