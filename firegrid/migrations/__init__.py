"""Versioned schema migrations, applied forward at start (CONTRACT §5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from firegrid.migrations import (
    m0001_foundation,
    m0002_terminals,
    m0003_grids,
    m0004_hazards,
    m0005_reports_located,
    m0006_report_ids,
    m0007_rejected_replay,
    m0008_event_log,
    m0009_placement_retention,
    m0010_cases,
    m0011_messages,
    m0012_deadlines_in_motion,
    m0013_case_ratings,
    m0014_token_lifecycle,
    m0015_stream_tickets,
    m0016_gb26875_address,
    m0017_gateway_commands,
    m0018_device_credentials,
    m0019_gateway_reads,
    m0020_api_writes,
    m0021_patrol_days,
)
from infra.database import Conn
from ingest.config import StorageSettings


@dataclass(frozen=True)
class Migration:
    """One schema step: a version number, a name and the function applying it."""

    version: int
    name: str
    apply: Callable[..., None]


MIGRATIONS: list[Migration] = [
    Migration(
        1, "foundation: registry, readings, events, rejected messages", m0001_foundation.apply
    ),
    Migration(2, "terminals: fixes, hazard reports, photos", m0002_terminals.apply),
    Migration(3, "grids: versions and areas, PostGIS when present; patrols", m0003_grids.apply),
    Migration(4, "hazards, hazard events, rule state, rules watermark", m0004_hazards.apply),
    Migration(5, "hazard reports located; a hazard per report", m0005_reports_located.apply),
    Migration(6, "report IDs: a UUID or a vendor's report number", m0006_report_ids.apply),
    Migration(7, "rejected messages: replay mark", m0007_rejected_replay.apply),
    Migration(8, "event log and consumer cursors; rules_done retired", m0008_event_log.apply),
    Migration(
        9,
        "hazard placement, oversize payload size and hash, retention indexes",
        m0009_placement_retention.apply,
    ),
    Migration(
        10, "cases: history, actions, terminal case actions; staff on tokens", m0010_cases.apply
    ),
    Migration(11, "messages: inbox messages sent, webhook deliveries", m0011_messages.apply),
    Migration(
        12,
        "deadlines in motion: reminders, escalation, extension and suspension requests",
        m0012_deadlines_in_motion.apply,
    ),
    Migration(13, "residents' rating links and case ratings", m0013_case_ratings.apply),
    Migration(
        14,
        "token names, expiry and last use; acknowledgement notes",
        m0014_token_lifecycle.apply,
    ),
    Migration(15, "single-use stream tickets for EventSource", m0015_stream_tickets.apply),
    Migration(16, "GB/T 26875.3 addresses of transmission devices", m0016_gb26875_address.apply),
    Migration(17, "commands to GB/T 26875.3 devices", m0017_gateway_commands.apply),
    Migration(18, "broker credentials of devices and terminals", m0018_device_credentials.apply),
    Migration(19, "status reads from GB/T 26875.3 devices", m0019_gateway_reads.apply),
    Migration(20, "the actor of each API import and replay", m0020_api_writes.apply),
    Migration(
        21,
        "grid versions' effective date; patrol days judged and marked for re-judging",
        m0021_patrol_days.apply,
    ),
]

Connection = Conn
__all__ = ["MIGRATIONS", "Connection", "Migration", "StorageSettings"]
