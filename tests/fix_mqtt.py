"""An MQTT broker for tests: FireGrid's own embedded Mosquitto, started per test session.

The machine's system Mosquitto keeps Debian's defaults (1,000 queued messages per client), which
silently drop bursts; tests use a broker with FireGrid's shipped configuration instead. Set
``FIREGRID_TEST_MQTT_URL`` to test against another broker.

``debian_broker_url`` is the opposite: a Mosquitto with Debian's stock settings, for the tests
that show what FireGrid says about one. It is started here too, on a free port, so that no test
needs a broker the machine happens to run on 127.0.0.1:1883.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Debian 12's /etc/mosquitto/mosquitto.conf, with a free port instead of 1883 and a temporary
# directory instead of /var/lib and /var/log: no queue setting, so Mosquitto's defaults hold
# (max_queued_messages 1000, max_inflight_messages 20). `user`: started as root, Mosquitto would
# otherwise switch to user "mosquitto", which cannot write the test's directory.
_DEBIAN_CONF = """\
pid_file {dir}/mosquitto.pid
persistence true
persistence_location {dir}/
log_dest file {dir}/mosquitto.log
listener {port} 127.0.0.1
allow_anonymous true
user {user}
"""


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running embedded broker (``firegrid.embedded.EmbeddedBroker``)."""
    from firegrid.embedded import start_broker

    handle = start_broker(tmp_path_factory.mktemp("broker"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def broker_url(request: pytest.FixtureRequest) -> str:
    """The URL of the broker the tests publish to and FireGrid subscribes at."""
    url = os.environ.get("FIREGRID_TEST_MQTT_URL")
    if url:
        return url
    handle = request.getfixturevalue("broker")
    return str(handle.url)


@pytest.fixture
def debian_broker_url(tmp_path: Path) -> Iterator[str]:
    """The URL of a Mosquitto started with Debian's default settings, private to the test."""
    from firegrid.embedded import find_mosquitto

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = tmp_path / "debian-mosquitto.conf"
    user = pwd.getpwuid(os.geteuid()).pw_name
    conf.write_text(_DEBIAN_CONF.format(dir=tmp_path, port=port, user=user))
    process = subprocess.Popen(  # the system's Mosquitto, with our own config file
        [str(find_mosquitto()), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"Mosquitto with Debian's defaults exited: {_log(tmp_path)}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"Mosquitto with Debian's defaults did not listen: {_log(tmp_path)}")
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def _log(directory: Path) -> str:
    path = directory / "mosquitto.log"
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"


@dataclass(frozen=True)
class SecureBroker:
    """FireGrid's embedded Mosquitto with device credentials (the dynamic-security plugin)."""

    handle: Any  # firegrid.embedded.EmbeddedBroker
    service_url: str = field(
        repr=False
    )  # FireGrid's own clients connect with this URL (every topic allowed)
    admin: Any  # infra.dynsec.DynsecAdmin

    @property
    def anonymous_url(self) -> str:
        """The broker's URL with no credential."""
        return str(self.handle.url)

    def url_as(self, username: str, password: str) -> str:
        """The broker's URL with a device's credential."""
        from firegrid.embedded.accounts import with_user

        return with_user(self.anonymous_url, username, password)

    def restart(self, db_url: str) -> None:
        """Stop the broker, rewrite its credentials from the database as `up` does, start it."""
        from firegrid.broker_auth import write_dynsec_config
        from firegrid.embedded.accounts import own_accounts

        self.handle.stop()
        own = own_accounts(self.handle.data_dir)
        write_dynsec_config(self.handle.data_dir, db_url=db_url, own=own, prefix="fg/v1")
        self.handle.start()


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Iterator[SecureBroker]:
    """FireGrid's broker as `firegrid up` starts it: anonymous off, credentials from the database.

    The plain ``broker`` fixture stays anonymous for the tests that are not about credentials.
    """
    from firegrid.broker_auth import write_dynsec_config
    from firegrid.embedded import start_broker
    from firegrid.embedded.accounts import own_accounts, with_user
    from infra.dynsec import DynsecAdmin

    data = tmp_path_factory.mktemp("secure-broker")
    own = own_accounts(data)
    assert own is not None
    config = write_dynsec_config(data, db_url=db_url, own=own, prefix="fg/v1")
    handle = start_broker(data, dynsec_config=config)
    try:
        yield SecureBroker(
            handle=handle,
            service_url=with_user(handle.url, own.service_username, own.service_password),
            admin=DynsecAdmin(
                url=handle.url, username=own.admin_username, password=own.admin_password
            ),
        )
    finally:
        handle.stop()
