"""The one Settings object, built once at start from the environment and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.settings import ApiLimits
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

    # An empty variable means "not given": a deployment script that exports FIREGRID_DB_URL=""
    # gets the embedded default (CONTRACT §5), not a connection to an empty libpq URL.
    # hide_input_in_errors: a refused URL never reaches a message with its password in it.
    model_config = SettingsConfigDict(
        env_prefix="FIREGRID_",
        env_nested_delimiter="__",
        extra="ignore",
        env_ignore_empty=True,
        hide_input_in_errors=True,
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
    api: ApiLimits = ApiLimits()  # FIREGRID_API__MAX_BODY_BYTES, ...

    @field_validator("http", mode="before")
    @classmethod
    def _http_from_string(cls, value: object) -> object:
        return HttpSettings.parse(value) if isinstance(value, str) else value

    @field_validator("db_url")
    @classmethod
    def _libpq(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused here, a malformed URL is a usage error (exit 2), not a traceback at connect.
        # The messages never quote the value: it holds the password.
        if value is None:
            return value
        try:
            params = conninfo_to_dict(value.get_secret_value())
        except psycopg.ProgrammingError:
            raise ValueError("FIREGRID_DB_URL is not a libpq URL or connection string") from None
        if any(p and not p.isdigit() for p in str(params.get("port", "")).split(",")):
            raise ValueError("FIREGRID_DB_URL has a port that is not a number")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        parts = urlsplit(value.get_secret_value())
        try:
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # urlsplit refuses a port that is not a number in range
            port_ok = False
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname or not port_ok:
            raise ValueError("FIREGRID_MQTT_URL must be mqtt://[user:pass@]host[:port] or mqtts://")
        return value

    @field_validator("db_url", "mqtt_url")
    @classmethod
    def _no_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "changeme" in value.get_secret_value().lower():
            raise ValueError("replace the placeholder credentials before starting")
        return value
