"""Progress on a terminal: a rich spinner while a long command works, nothing else elsewhere.

Into a pipe, a file or a log the CLI writes exactly the lines it always wrote, with no spinner
frames or escape codes, so scripts parsing its output keep working.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console

Say = Callable[[str], None]


@contextmanager
def progress(description: str, *, stream: TextIO | None = None) -> Iterator[Say]:
    """Show a spinner on a terminal while the block runs; yield ``say`` to print a line.

    ``say`` may be called from several threads (``simulate --all`` runs scenarios side by
    side): each line is written whole, never run into another.
    """
    out = stream if stream is not None else sys.stdout
    lock = threading.Lock()
    if not out.isatty():

        def plain(line: str) -> None:
            with lock:
                out.write(f"{line}\n")
                out.flush()

        yield plain
        return
    console = Console(file=out)
    with console.status(description) as status:

        def say(line: str) -> None:
            # The line stays above the spinner; the spinner shows what is being done now.
            with lock:
                console.print(line, markup=False, highlight=False)
                status.update(line.splitlines()[0] if line else description)

        yield say
