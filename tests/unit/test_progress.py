"""CLI progress: plain lines into a pipe or file, a spinner only on a terminal."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

from firegrid.progress import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gets_exactly_the_lines() -> None:
    out = io.StringIO()
    with progress("working", stream=out) as say:
        say("first")
        say("second")
    assert out.getvalue() == "first\nsecond\n"


def test_nothing_is_written_when_nothing_is_said() -> None:
    out = io.StringIO()
    with progress("working", stream=out):
        pass
    assert out.getvalue() == ""


def test_a_terminal_gets_the_lines_and_the_spinner_is_cleared() -> None:
    out = _Terminal()
    with progress("working", stream=out) as say:
        say("first [not markup]")
    text = out.getvalue()
    assert "first [not markup]" in text
    assert "\x1b[" in text  # the terminal's control codes: the spinner was drawn and removed


class _Yielding(io.StringIO):
    """A pipe that lets other threads run inside every write, as a real one may."""

    def write(self, text: str) -> int:
        time.sleep(0)
        return super().write(text)


def test_lines_said_from_several_threads_are_written_whole() -> None:
    out = _Yielding()
    with progress("working", stream=out) as say, ThreadPoolExecutor(max_workers=8) as pool:
        for worker in range(8):
            pool.submit(lambda w=worker: [say(f"worker {w} line {i}") for i in range(200)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 * 200
    assert sorted(lines) == sorted(f"worker {w} line {i}" for w in range(8) for i in range(200))
