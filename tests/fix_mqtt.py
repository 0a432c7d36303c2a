"""An MQTT broker for tests: FireGrid's own embedded Mosquitto, started per test session.

The machine's system Mosquitto keeps Debian's defaults (1,000 queued messages per client), which
silently drop bursts; tests use a broker with FireGrid's shipped configuration instead. Set
``FIREGRID_TEST_MQTT_URL`` to test against another broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


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
