"""The one Settings object, built once at start from the environment and flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.settings import ApiLimits
from devices.config import DeviceStatusSettings
from dispatch.config import DispatchSettings, InboxSettings, WebhookSettings
from gateway.config import GatewaySettings, parse_listen
from gateway.exceptions import ListenAddressError
from infra.publisher import PublisherSettings
from infra.roles import SupervisorSettings
from ingest.config import IngestSettings, StorageSettings
from rules.config import RulesSettings

# The checkout this module runs from, when it runs from one (an editable install, or
# `./scripts/up`): its pyproject.toml and scripts/up sit beside the firegrid package.
_CHECKOUT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """Return where FireGrid keeps photos and the embedded services when nothing says otherwise.

    From a checkout: its ``var/``, where the README's ``./scripts/up`` has always put it, so
    ``firegrid devices import`` run from any directory finds the FireGrid that checkout runs.
    Installed as a package: the per-user data directory of the XDG base-directory spec
    (``$XDG_DATA_HOME/firegrid``, else ``~/.local/share/firegrid``), never a folder inside
    site-packages or whatever directory the command happened to start in.
    """
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "scripts" / "up").is_file():
        return _CHECKOUT / "var"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The spec ignores a relative XDG_DATA_HOME: it would be as ambiguous as the old "var".
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "firegrid"


def default_state_file() -> Path:
    """Return where ``firegrid up`` records the embedded instance it runs (``firegrid.instance``).

    Per user, per the XDG base-directory spec (``$XDG_STATE_HOME/firegrid/instance.json``, else
    ``~/.local/state/firegrid/instance.json``): a CLI command run from any directory, or from an
    installed package, finds the FireGrid this user started, wherever its data lives.
    """
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "firegrid" / "instance.json"


# Not 1883: that is where a system Mosquitto (Debian's package starts one) or a city broker
# listens, and a device or tester pointed there would talk to the wrong broker. A fixed port
# keeps the README's mosquitto_pub line and the devices' configuration valid across restarts.
EMBEDDED_MQTT_PORT = 1884


class EmbeddedSettings(BaseModel):
    """The embedded services ``firegrid up`` starts when nothing is configured."""

    mqtt_port: int = Field(
        default=EMBEDDED_MQTT_PORT,
        ge=0,
        le=65_535,
        description="the embedded broker's port on 127.0.0.1; 0: any free port (tests)",
    )


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


class BrokerSettings(BaseModel):
    """The admin of a configured Mosquitto's dynamic-security plugin (``FIREGRID_BROKER__*``).

    Set both to have FireGrid create, rotate, disable and delete device credentials in that
    broker; unset, a configured broker's credentials are its operator's job. The embedded broker
    needs neither: FireGrid makes its own admin.
    """

    admin_username: str | None = None
    admin_password: SecretStr | None = None


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
    # Absolute from here on: it is printed at start, and the embedded services are found by it.
    data_dir: Path = Field(default_factory=default_data_dir)
    # Where `firegrid up` records the embedded instance it runs, for CLI commands run elsewhere.
    state_file: Path = Field(default_factory=default_state_file)
    embedded: EmbeddedSettings = EmbeddedSettings()  # FIREGRID_EMBEDDED__MQTT_PORT
    ingest: IngestSettings = IngestSettings()
    storage: StorageSettings = StorageSettings()
    devices: DeviceStatusSettings = DeviceStatusSettings()
    rules: RulesSettings = RulesSettings()
    dispatch: DispatchSettings = DispatchSettings()  # cases: rules file, area type, evidence
    inbox: InboxSettings = InboxSettings()  # case messages to terminals (fg/v1/t/{id}/inbox)
    webhook: WebhookSettings = WebhookSettings()  # case events to the city platform, signed
    api: ApiLimits = ApiLimits()  # FIREGRID_API__MAX_BODY_BYTES, ...
    roles: SupervisorSettings = SupervisorSettings()  # restarts, giving up, /healthz lag bound
    publisher: PublisherSettings = PublisherSettings()  # outbound MQTT (terminals' inbox)
    broker: BrokerSettings = BrokerSettings()  # device credentials at a configured broker
    # FIREGRID_GB26875=host:port: where the GB/T 26875.3 gateway listens; None: no gateway.
    gb26875: str | None = Field(default=None, description="host:port of the TCP gateway")
    gateway: GatewaySettings = GatewaySettings()  # its limits: connections, queue, idle time

    @field_validator("gb26875")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_listen(value)
            except ListenAddressError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("data_dir", "state_file")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # A relative FIREGRID_DATA_DIR is taken from the directory FireGrid starts in, once.
        return value.expanduser().absolute()

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
