"""The running FireGrid a CLI command talks to: the configured one, or the embedded one recorded.

``firegrid up`` on the embedded services records where they live (data directory, database and
broker URLs, API address, its PID) in ``Settings.state_file``, a per-user file; every other
command finds the database (and ``simulate`` the broker) through ``locate``. No command but
``up`` starts the embedded services: one started from another directory, or beside a running
``up``, would be a second, empty FireGrid that the API and the devices know nothing of.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from firegrid.embedded import running_urls
from firegrid.embedded._proc import alive
from firegrid.settings import Settings


class NotRunningError(RuntimeError):
    """No FireGrid is configured and none runs where one was looked for: exit 1."""


class InstanceRecord(BaseModel):
    """What ``firegrid up`` writes about the embedded instance it runs."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    db_url: str  # the embedded PostgreSQL's Unix socket: no password in it
    mqtt_url: str
    api_url: str
    pid: int
    started_at: datetime
    gb26875: str | None = None  # where its GB/T 26875.3 gateway listens (None: off)


@dataclass(frozen=True, slots=True)
class Located:
    """Where the running FireGrid's database and broker are (broker: None if unknown)."""

    db_url: str
    mqtt_url: str | None
    data_dir: Path


def record(path: Path, entry: InstanceRecord) -> None:
    """Write ``entry`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(entry.model_dump_json(indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(path)


def forget(path: Path, *, pid: int) -> None:
    """Remove the record at ``path`` if process ``pid`` wrote it; leave another's alone."""
    entry = _read(path)
    if entry is not None and entry.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def recorded(path: Path) -> InstanceRecord | None:
    """Return the record at ``path`` if the ``firegrid up`` that wrote it is still alive."""
    entry = _read(path)
    return entry if entry is not None and alive(entry.pid) else None


def _read(path: Path) -> InstanceRecord | None:
    try:
        return InstanceRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):  # none yet, or a file cut short by a crash: no record
        return None


def locate(settings: Settings) -> Located:
    """Return the FireGrid to talk to: configured, else the running embedded one.

    An explicit data directory (``FIREGRID_DATA_DIR``, ``--data-dir``) names the instance;
    otherwise the one recorded in the state file, else the one on the default data directory.
    Never starts anything: raise ``NotRunningError`` saying what to do instead.
    """
    configured_mqtt = settings.mqtt_url.get_secret_value() if settings.mqtt_url else None
    if settings.db_url is not None:
        return Located(settings.db_url.get_secret_value(), configured_mqtt, settings.data_dir)
    explicit = "data_dir" in settings.model_fields_set
    candidates = [settings.data_dir]
    if not explicit and (entry := recorded(settings.state_file)) is not None:
        candidates.insert(0, entry.data_dir)
    for data_dir in candidates:
        db_url, broker_url = running_urls(data_dir)
        if db_url is not None:
            return Located(db_url, configured_mqtt or broker_url, data_dir)
    if explicit:
        raise NotRunningError(
            f"no FireGrid runs on {settings.data_dir}: start it with `firegrid up` on that data"
            " directory, or set FIREGRID_DB_URL to your database"
        )
    raise NotRunningError(
        f"no running FireGrid found (none recorded in {settings.state_file}, none on"
        f" {settings.data_dir}): start one with ./scripts/up (or `firegrid up`), or set"
        " FIREGRID_DB_URL and FIREGRID_MQTT_URL to yours"
    )


def recorded_gateway(settings: Settings) -> str | None:
    """Return where the recorded running FireGrid's GB/T 26875.3 gateway listens, if on."""
    entry = recorded(settings.state_file)
    return entry.gb26875 if entry is not None else None
