"""Process and file helpers shared by the embedded services, and their common lifecycle."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

# The package's name, as before the split: log lines keep the logger name operators know.
log = logging.getLogger("firegrid.embedded")

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
LIVE: list[Service] = []
_OWNER = "owner.pid"


class EmbeddedError(RuntimeError):
    """An embedded service could not be found, started or stopped."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, *, since: int = 0, lines: int = 20) -> str:
    """Return the last ``lines`` lines written to ``path`` after byte offset ``since``."""
    try:
        with path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"


def proc_cmdline(pid: int) -> list[str]:
    """Return the command line of ``pid``, empty if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def proc_cwd(pid: int) -> Path | None:
    """Return the working directory of ``pid``, None if it cannot be read."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def is_postgres(pid: int) -> bool:
    """Say whether ``pid`` is a PostgreSQL postmaster or backend."""
    # Backends rewrite their command line to "postgres: <role>"; the postmaster keeps its path.
    argv = proc_cmdline(pid)
    return bool(argv) and (argv[0].startswith("postgres") or argv[0].endswith("/postgres"))


def alive(pid: int) -> bool:
    """Say whether ``pid`` is a live process (not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}  # a zombie holds its PID but nothing else


def claim(data_dir: Path) -> None:
    """Record that this process runs the service on ``data_dir`` (see ``running_urls``)."""
    (data_dir / _OWNER).write_text(f"{os.getpid()}\n")


def release(data_dir: Path) -> None:
    """Drop this process's claim on ``data_dir``; leave another process's claim alone."""
    owner = data_dir / _OWNER
    with contextlib.suppress(OSError, ValueError):
        if int(owner.read_text().split()[0]) == os.getpid():
            owner.unlink()


def owned_by_other_live_process(data_dir: Path) -> bool:
    """Say whether another live process claims the service on ``data_dir``."""
    try:
        pid = int((data_dir / _OWNER).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return pid != os.getpid() and alive(pid)


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for ``pids`` to exit; return those still alive."""
    deadline = time.monotonic() + timeout_s
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def send_signal(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid`` if it still exists."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """Return the ``subprocess`` arguments that run a child as ``user`` (None: as ourselves)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": {"LC_ALL": "C"}}


class Service:
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
                cwd=cwd, start_new_session=True, **as_user(user),
            )  # fmt: skip

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the service gracefully; do nothing if it is not running."""
        release(self.data_dir)
        if self._process is not None:
            for signum in self._stop_signals:  # escalate only if the previous one timed out
                if self._process.poll() is not None:
                    break
                self._process.send_signal(signum)
                try:
                    self._process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s ignored signal %d for %.0f s", self, signum, STOP_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        """Kill the service with SIGKILL, as a crash would."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None
        if self in LIVE:
            LIVE.remove(self)


@atexit.register
def _stop_all() -> None:
    # A service left running would hold its port and data directory after FireGrid exits.
    for service in reversed(list(LIVE)):
        with contextlib.suppress(Exception):
            service.stop()
