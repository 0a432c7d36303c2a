"""Settings section owned by devices: how online/offline is decided."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DeviceStatusSettings(BaseModel):
    """A device is offline after ``missed_heartbeats`` × its heartbeat of data silence."""

    missed_heartbeats: int = Field(default=3, ge=1)
    # Used when a registry row gives no heartbeat_s. NB-IoT smoke alarms beat about daily
    # (DOMAIN.md §4, [check]); pressure terminals typically report hourly.
    default_heartbeat_s: dict[str, int] = Field(
        default_factory=lambda: {
            "smoke": 86_400,
            "hydrant": 3_600,
            "extinguisher": 86_400,
            "water_tank": 3_600,
            "transmission": 7_200,  # GB 50440: the centre polls at least every 2 h
            "terminal": 600,
        }
    )
