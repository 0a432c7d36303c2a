"""A device's answer to a status read, as the command's stored outcome.

The answer (command 5) carries the same upload objects a device sends by itself: a facility
system's status (type 1) or a part's (type 2). They are kept as the operator reads them (flags
named as ``devices.codecs.gb26875`` names them, a part's address as zone and position), not
as events: a read asks what the state is now, and raises nothing the rules did not already see.
"""

from __future__ import annotations

from typing import Any

from devices.codecs.gb26875 import PART_KINDS, flags_of
from devices.codecs.gb26875_frame import GbFrame, PartStatus, SystemStatus


def answer_objects(frame: GbFrame) -> list[dict[str, Any]]:
    """Return the status objects of an answer frame as JSON-ready dicts (others: skipped)."""
    out: list[dict[str, Any]] = []
    for obj in frame.objects:
        if not isinstance(obj, PartStatus | SystemStatus):
            continue
        status, names = flags_of(obj)
        item: dict[str, Any] = {
            "unit_type": frame.unit_type,
            "system_type": obj.system_type,
            "system_address": obj.system_address,
        }
        if isinstance(obj, PartStatus):
            item |= {
                "part_type": obj.part_type,
                "part_kind": PART_KINDS.get(obj.part_type, "other"),
                "zone": obj.zone,
                "position": obj.position,
                "description": obj.description,
            }
        item |= {
            "status": status,
            "status_bits": names,
            "time": obj.time.isoformat() if obj.time is not None else None,
        }
        out.append(item)
    return out
