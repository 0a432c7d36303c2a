"""Test session wiring: real PostgreSQL and a real MQTT broker, started here when absent."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.fix_db", "tests.fix_mqtt", "tests.fix_ingest", "tests.fix_browser"]

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
