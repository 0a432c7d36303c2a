"""The CLI is quiet into a pipe (no spinner, only its JSON) and stops on Ctrl-C with exit 130
and one line, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.integration.cli_support import run_cli


def test_import_into_a_pipe_prints_only_its_json(db_url: str, tmp_path: Path) -> None:
    staff = tmp_path / "staff.json"
    staff.write_text(
        json.dumps([{"staff_id": f"P-{uuid.uuid4().hex[:6]}", "name": "x", "role": "grid_worker"}])
    )
    done = run_cli("staff", "import", str(staff), db_url=db_url)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "\x1b" not in done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["created"] == 1


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    # A FIFO nobody writes to: the import blocks reading it, like a long import would.
    fifo = tmp_path / "devices.csv"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firegrid.cli",
            "--db-url",
            "postgresql://nobody@127.0.0.1:1/x",
            "devices",
            "import",
            str(fifo),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = None
    try:
        # Opening the write end without blocking works once the CLI holds the read end: it
        # is past its imports and waiting for data. Held open (writing nothing), the CLI's
        # read blocks instead of seeing the end of the file.
        deadline = time.monotonic() + 60
        while writer is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the CLI never opened its input"
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                time.sleep(0.05)
        time.sleep(0.2)  # from open() into read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        if writer is not None:
            os.close(writer)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["firegrid: interrupted"]
    assert out == ""
