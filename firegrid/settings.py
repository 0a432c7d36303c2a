"""The one Settings object, built once at start from the environment and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from devices.config import DeviceStatusSettings
from ingest.config import IngestSettings, StorageSettings
from rules.config import RulesSettings


class HttpSettings(BaseModel):
    """Where the API listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)

    @classmethod
    def parse(cls, value: str) -> HttpSettings:
        """Parse ``host:port`` as CONTRACT §5 writes FIREGRID_HTTP."""
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"FIREGRID_HTTP must be host:port, got {value!r}")
        return cls(host=host, port=int(port))


class Settings(BaseSettings):
    """Everything configurable; nested sections read ``FIREGRID_<SECTION>__<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="FIREGRID_", env_nested_delimiter="__", extra="ignore"
    )

    db_url: SecretStr | None = Field(default=None, description="libpq URL; None: embedded")
    mqtt_url: SecretStr | None = Field(default=None, description="mqtt(s)://...; None: embedded")
    # NoDecode: FIREGRID_HTTP is "host:port" (CONTRACT §5), not the JSON pydantic-settings
    # expects for a nested model; the validator below parses it.
    http: Annotated[HttpSettings, NoDecode] = HttpSettings()
    data_dir: Path = Path("var")
    ingest: IngestSettings = IngestSettings()
    storage: StorageSettings = StorageSettings()
    devices: DeviceStatusSettings = DeviceStatusSettings()
    rules: RulesSettings = RulesSettings()

    @field_validator("http", mode="before")
    @classmethod
    def _http_from_string(cls, value: object) -> object:
        return HttpSettings.parse(value) if isinstance(value, str) else value

    @field_validator("db_url", "mqtt_url")
    @classmethod
    def _no_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "changeme" in value.get_secret_value().lower():
            raise ValueError("replace the placeholder credentials before starting")
        return value
