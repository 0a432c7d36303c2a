"""Settings section owned by rules: the rules file, late data, ticks, flapping."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from rules.rules_file import DEFAULT_RULES


class RulesSettings(BaseModel):
    """How the rules role runs; durations in seconds (device time unless said otherwise)."""

    path: Path = Field(default=DEFAULT_RULES, description="rules file; default: shipped rules")
    late_window_s: float = Field(
        default=3600.0, ge=0, description="a sample this much behind a key is still evaluated"
    )
    checkpoint_every_s: float = Field(
        default=900.0, gt=0, description="device time between a key's replay checkpoints"
    )
    poll_s: float = Field(default=5.0, gt=0, description="wall-clock poll when no NOTIFY comes")
    silence_every_s: float = Field(default=60.0, gt=0, description="wall-clock silence tick")
    daily_every_s: float = Field(
        default=600.0, gt=0, description="how often the daily rules (dates, patrols) look"
    )
    rejudge_days: int = Field(
        default=7, ge=1, description="China days back a changed patrol day is judged again"
    )
    rejudge_settle_s: float = Field(
        default=60.0,
        ge=0,
        description="wall-clock quiet after a patrol day's last change before it is judged again",
    )
    flap_count: int = Field(default=6, ge=2, description="opens+clears that make a key flapping")
    flap_window_s: float = Field(default=3600.0, gt=0)
    max_batches_per_round: int = Field(default=100, ge=1)
