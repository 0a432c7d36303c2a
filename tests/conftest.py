"""Test session wiring: real PostgreSQL and a real MQTT broker, started here when absent."""

import os
import tempfile

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fix_db",
    "tests.fix_mqtt",
    "tests.fix_ingest",
    "tests.fix_api",
    "tests.fix_browser",
]

# Property tests run the same examples on every run ("ci"), so a slow machine or an unlucky
# draw never blocks a landing; FIREGRID_HYPOTHESIS=explore draws new examples each run to hunt.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile(os.environ.get("FIREGRID_HYPOTHESIS", "ci"))

# `firegrid up` records its embedded instance in a per-user state file, and its broker takes a
# fixed port (1884): a test's FireGrid must neither overwrite a developer's record nor collide
# with a running ./scripts/up. Children inherit both (XDG_STATE_HOME survives a test that drops
# the FIREGRID_ variables; such a test sets the port itself).
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="fg-test-state-")
os.environ["FIREGRID_EMBEDDED__MQTT_PORT"] = "0"
