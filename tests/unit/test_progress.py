"""CLI progress: plain lines into a pipe or file, a spinner only on a terminal."""

from __future__ import annotations

import io

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
