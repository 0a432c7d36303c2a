"""Test session wiring: real PostgreSQL and a real MQTT broker, started here when absent."""

pytest_plugins = ["tests.fix_db", "tests.fix_mqtt", "tests.fix_ingest"]
