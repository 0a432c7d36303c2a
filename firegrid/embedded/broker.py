"""The embedded MQTT broker: the system's Mosquitto with FireGrid's configuration."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import ClassVar

from firegrid.embedded._proc import (
    LIVE,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    EmbeddedError,
    Service,
    alive,
    claim,
    free_port,
    log,
    log_tail,
    proc_cmdline,
    send_signal,
    wait_gone,
)

MOSQUITTO_FALLBACKS = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))
# firegrid/mosquitto.conf: beside the package, where the README and broker check point to it.
CONF_TEMPLATE = Path(__file__).parents[1] / "mosquitto.conf"
# Where distributions install the plugin: Debian's multiarch directory, then other layouts.
DYNSEC_PLUGIN_GLOBS = (
    "/usr/lib/*-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)


class MosquittoNotFoundError(EmbeddedError):
    """No Mosquitto binary is installed."""


class _PortInUseError(EmbeddedError):
    """The broker could not bind its port."""


def find_mosquitto(
    *, search_path: str | None = None, fallbacks: tuple[Path, ...] = MOSQUITTO_FALLBACKS
) -> Path:
    """Return the Mosquitto binary, or raise saying how to install it."""
    # /usr/sbin is often missing from a non-root PATH, hence the fallbacks.
    found = shutil.which("mosquitto", path=search_path)
    if found:
        return Path(found)
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    raise MosquittoNotFoundError(
        "FireGrid's embedded broker needs Mosquitto, which is not installed: run "
        "`apt-get install -y mosquitto` (Debian/Ubuntu) or `brew install mosquitto`, "
        "or set FIREGRID_MQTT_URL to a broker of your own"
    )


def find_dynsec_plugin(candidates: tuple[str, ...] = DYNSEC_PLUGIN_GLOBS) -> Path:
    """Return Mosquitto's dynamic-security plugin (shipped in Debian's ``mosquitto`` package)."""
    for pattern in candidates:
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return found[0]
    raise MosquittoNotFoundError(
        "Mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) is not installed:"
        " Debian and Ubuntu ship it in the `mosquitto` package"
    )


def render_mosquitto_conf(*, port: int, data_dir: Path, dynsec_config: Path | None = None) -> str:
    """Render FireGrid's Mosquitto configuration for a port and data directory.

    With ``dynsec_config`` the broker authenticates every client through the dynamic-security
    plugin, whose state lives in that file; without it, it is anonymous (the tests' broker).
    """
    auth = "allow_anonymous true"
    if dynsec_config is not None:
        auth = (
            "allow_anonymous false\n"
            f"plugin {find_dynsec_plugin()}\n"
            f"plugin_opt_config_file {dynsec_config}"
        )
    template = Template(CONF_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        port=port, data_dir=data_dir, user=pwd.getpwuid(os.geteuid()).pw_name, auth=auth
    )


@dataclass(eq=False)
class EmbeddedBroker(Service):
    """A Mosquitto child process with FireGrid's configuration, persistence in ``data_dir``."""

    url: str
    host: str
    port: int
    data_dir: Path
    binary: Path = field(default_factory=find_mosquitto, repr=False)
    # The dynamic-security plugin's state file; None: an anonymous broker (tests).
    dynsec_config: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stop_signals: ClassVar[tuple[int, ...]] = (signal.SIGTERM,)  # Mosquitto saves, then exits

    @property
    def log_path(self) -> Path:
        """Return the broker's log file."""
        return self.data_dir / "mosquitto.log"

    def start(self) -> None:
        """Start the broker (again) on the same port and data directory."""
        if self._running():
            return
        self._stop_leftover()
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(
            render_mosquitto_conf(
                port=self.port, data_dir=self.data_dir, dynsec_config=self.dynsec_config
            )
        )
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._spawn([str(self.binary), "-c", str(conf)], cwd=self.data_dir, user=None)
        try:
            self._wait_ready(offset)
        except EmbeddedError:
            self.kill()
            raise
        LIVE.append(self)
        claim(self.data_dir)
        log.info("embedded MQTT broker at %s, data in %s", self.url, self.data_dir)

    def _wait_ready(self, offset: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = log_tail(self.log_path, since=offset)
                kind = _PortInUseError if "Address already in use" in tail else EmbeddedError
                raise kind(f"Mosquitto exited at start (see {self.log_path}):\n{tail}")
            # The port alone could belong to another process; the log line is ours.
            if " running" in log_tail(self.log_path, since=offset, lines=1000):
                with contextlib.suppress(OSError):
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    return
            time.sleep(0.02)
        tail = log_tail(self.log_path, since=offset)
        raise EmbeddedError(
            f"Mosquitto did not accept connections on {self.host}:{self.port} within "
            f"{START_TIMEOUT_S:.0f} s (see {self.log_path}):\n{tail}"
        )

    def _stop_leftover(self) -> None:
        """Stop a broker on this data directory left behind by a crashed FireGrid."""
        pid = leftover_pid(self.data_dir)
        if pid is not None:
            log.warning("stopping a leftover Mosquitto (pid %d) on %s", pid, self.data_dir)
            send_signal(pid, signal.SIGTERM)
            if wait_gone([pid], STOP_TIMEOUT_S):
                send_signal(pid, signal.SIGKILL)
                wait_gone([pid], 5)


def leftover_pid(data_dir: Path) -> int | None:
    """Return the PID of a live Mosquitto running on ``data_dir``'s configuration, if any."""
    try:
        pid = int((data_dir / "mosquitto.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and str(data_dir / "mosquitto.conf") in proc_cmdline(pid) else None


def start_broker(
    data_dir: Path, *, port: int | None = None, dynsec_config: Path | None = None
) -> EmbeddedBroker:
    """Start FireGrid's Mosquitto on 127.0.0.1, on ``port`` or a free one.

    ``dynsec_config``: authenticate clients with the dynamic-security plugin and this file.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    binary = find_mosquitto()
    # A free port can be taken between choosing and binding it; choose again then.
    for attempt in range(5):
        chosen = port if port is not None else free_port()
        broker = EmbeddedBroker(
            url=f"mqtt://127.0.0.1:{chosen}",
            host="127.0.0.1",
            port=chosen,
            data_dir=data_dir,
            binary=binary,
            dynsec_config=dynsec_config,
        )
        try:
            broker.start()
        except _PortInUseError:
            if port is not None or attempt == 4:
                raise
            continue
        return broker
    raise AssertionError("unreachable")  # pragma: no cover
