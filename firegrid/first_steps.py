"""What ``firegrid up`` on the embedded services leaves for the user: a record and a first try.

The record (``firegrid.instance``) lets CLI commands run from any directory find this FireGrid;
the printed lines are commands that work as printed, against this very instance: publish as a
demo smoke detector with ``mosquitto_pub``, then see the hazard through the API.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from firegrid.instance import InstanceRecord, record
from firegrid.services import Services
from firegrid.settings import Settings

log = logging.getLogger(__name__)

# The demo's first smoke detector (simulators.fleet): registered, inside a demo grid.
TRY_DEVICE = "DEMO-SMK-00"


def record_instance(settings: Settings, services: Services, *, api_url: str) -> None:
    """Record where this process's embedded FireGrid lives, for the CLI run elsewhere."""
    entry = InstanceRecord(
        data_dir=settings.data_dir,
        db_url=services.db_url,
        # Where the broker is, not FireGrid's own login: CLI commands read that from the data
        # directory (firegrid.embedded.running), and the record stays free of secrets.
        mqtt_url=_without_user(services.mqtt_url),
        api_url=api_url,
        pid=os.getpid(),
        started_at=datetime.now(UTC),
        gb26875=settings.gb26875,
    )
    try:
        record(settings.state_file, entry)
    except OSError as exc:  # a read-only home: FireGrid runs, only the CLI needs telling
        log.warning(
            "could not record this instance in %s (%s): CLI commands run elsewhere need"
            " FIREGRID_DATA_DIR=%s",
            settings.state_file,
            exc.strerror,
            settings.data_dir,
        )
        return
    print(f"instance recorded in {settings.state_file} (CLI commands run anywhere use it)")


def _without_user(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def first_steps(
    *,
    mqtt_url: str,
    prefix: str,
    api_url: str,
    token: str | None,
    demo: bool,
    secret: str | None = None,
) -> list[str]:
    """Return shell commands to try: a smoke alarm published as a demo device, then the hazard.

    The alarm's time is the shell's ``date`` at the moment the line runs, so it works whenever
    it is pasted. Without the demo there is no registered device to speak as: only the API.
    ``secret``: the demo device's broker credential, where the broker enforces them (the
    embedded one); the line then connects as that device, as a real one must.
    """
    broker = urlsplit(mqtt_url)
    # Double quotes: a token is URL-safe base64, and $TOKEN (a later start) must expand.
    auth = f"Authorization: Bearer {token or '$TOKEN'}"
    lines: list[str] = []
    if demo:
        payload = (
            '{"ts": "\'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"\'", "type": "smoke_alarm",'
            ' "detail": {"smoke_pct": 12.5}}'
        )
        topic = f"{prefix}/d/{TRY_DEVICE}/event"
        login = f" -u {TRY_DEVICE} -P '{secret}'" if secret else ""
        lines.append(
            f"mosquitto_pub -h {broker.hostname} -p {broker.port}{login} -q 1 -t {topic}"
            f" -m '{payload}'"
        )
        lines.append(f"curl -H \"{auth}\" '{api_url}/api/v1/hazards?status=open'")
    else:
        lines.append(f'curl -H "{auth}" {api_url}/api/v1/hazards')
    return lines


def announce(
    settings: Settings,
    services: Services,
    *,
    api: bool,
    token: str | None,
    demo: bool,
    secrets: dict[str, str] | None = None,
) -> bool:
    """Print the API address; on the embedded services record them and print what to try.

    Return whether the instance was recorded (the caller forgets it when it stops).
    """
    api_url = f"http://{settings.http.host}:{settings.http.port}"
    if api:
        # The console first: it is what an operator opens; the token printed above logs in.
        print(f"console: {api_url}/ (paste the API token to log in)")
        print(f"API: {api_url}/docs")
    if not services.embedded:
        return False
    record_instance(settings, services, api_url=api_url)
    print("try it:")
    for line in first_steps(
        mqtt_url=services.mqtt_url,
        prefix=settings.ingest.topic_prefix,
        api_url=api_url,
        token=token,
        demo=demo,
        secret=(secrets or {}).get(TRY_DEVICE),
    ):
        print(f"  {line}")
    return True
