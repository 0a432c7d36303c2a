"""Settings sections of dispatch: cases and their deadlines, the terminals' inbox, the webhook."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dispatch.models import AreaType

# The default escalation ladder (issue 8 point 4); ``department`` stands aside of it.
LADDER: Final = (
    "grid_worker",
    "grid_head",
    "community_handler",
    "street_leader",
    "county_leader",
)
STAFF_ROLES: Final = frozenset({*LADDER, "department", "operator"})

__all__ = ["DispatchSettings", "InboxSettings", "IndicatorWeights", "WebhookSettings"]


class IndicatorWeights(BaseModel):
    """Weights of the composite score's parts (``dispatch.indicators.score``); any scale, the
    score divides by the sum of the weights of the parts that have a value."""

    model_config = ConfigDict(frozen=True)

    closure: float = Field(default=25.0, ge=0, description="结案率: closed / due")
    on_time: float = Field(default=30.0, ge=0, description="按期结案率: closed on time / due")
    signed_on_time: float = Field(default=10.0, ge=0, description="signed on time / due")
    no_rework: float = Field(default=10.0, ge=0, description="1 - 返工率 (rework / closed)")
    patrols: float = Field(default=15.0, ge=0, description="patrols done / required, at most 1")
    rating: float = Field(default=10.0, ge=0, description="residents' mean rating, 1-5 to 0-1")


class DispatchSettings(BaseModel):
    """How cases are opened, checked and polled for."""

    case_rules: Path | None = Field(
        default=None, description="a local case rules file (default: dispatch/case_rules.yaml)"
    )
    area_type: AreaType = Field(
        default="urban", description="deadlines' area type (per-community overrides: later)"
    )
    verify_max_distance_m: float = Field(
        default=50.0, gt=0, description="a verification's position (and photos') from the case"
    )
    deadlines_file: Path | None = Field(
        default=None, description="a local deadline table merged over dispatch/deadlines.yaml"
    )
    calendar_file: Path | None = Field(
        default=None, description="a district's calendar: own holidays, working days, hours"
    )
    poll_s: float = Field(default=1.0, gt=0, description="fallback poll of the event log")
    events_per_tx: int = Field(default=100, ge=1, description="log events handled per transaction")
    indicator_weights: IndicatorWeights = Field(
        default_factory=IndicatorWeights, description="the indicators' composite score"
    )
    ladder: tuple[str, ...] = Field(
        default=LADDER,
        min_length=1,
        description="escalation ladder, lowest first (CONTRACT §3 staff roles)",
    )
    sweep_s: float = Field(default=5.0, gt=0, description="how often reminders and escalations run")
    sweep_batch: int = Field(default=500, ge=1, description="cases swept per transaction")

    @field_validator("ladder")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in value if r not in STAFF_ROLES]
        if unknown:
            raise ValueError(f"not staff roles: {', '.join(unknown)}")
        if len(set(value)) != len(value):
            raise ValueError("a role appears twice on the ladder")
        return value


class InboxSettings(BaseModel):
    """How the inbox role publishes case messages to terminals (``{prefix}/t/{id}/inbox``)."""

    model_config = ConfigDict(frozen=True)

    prefix: str = Field(default="fg/v1", description="MQTT topic prefix (CONTRACT §1)")
    batch_events: int = Field(default=100, ge=1, description="events claimed per transaction")
    ack_timeout_s: float = Field(
        default=10.0, gt=0, description="wait this long for the PUBACKs before retrying"
    )
    poll_s: float = Field(default=5.0, gt=0, description="wall-clock poll when no NOTIFY comes")


class WebhookSettings(BaseModel):
    """The city platform's webhook: where case events go, signed the Standard Webhooks way.

    Off while ``url`` is None: no role runs and no cursor holds the log back.
    """

    # hide_input_in_errors: a refused secret never reaches an error message.
    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    url: str | None = Field(default=None, description="POST target; None: the webhook is off")
    secret: SecretStr | None = Field(default=None, description="whsec_<base64>, Standard Webhooks")
    timeout_s: float = Field(default=10.0, gt=0, description="one POST, connect to last byte")
    max_attempts: int = Field(default=8, ge=1, description="then the delivery is listed failed")
    backoff_initial_s: float = Field(default=10.0, gt=0, description="wait after the 1st failure")
    backoff_max_s: float = Field(default=3600.0, gt=0, description="waits double up to this")
    poll_s: float = Field(default=2.0, gt=0, description="how often due retries are looked for")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must start with http:// or https://")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so a bad secret is a usage error at start, not a failure per delivery.
        # The message never quotes the value.
        if value is not None:
            from dispatch.signing import secret_key

            secret_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _signed(self) -> WebhookSettings:
        # Standard Webhooks messages are always signed: a URL without a secret is a mistake.
        if self.url is not None and self.secret is None:
            raise ValueError("a webhook URL needs a secret (FIREGRID_WEBHOOK__SECRET=whsec_...)")
        return self

    @property
    def enabled(self) -> bool:
        """Tell whether a URL is configured."""
        return self.url is not None
