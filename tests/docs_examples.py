"""The examples in the project's Markdown, found by their marker, for the tests that run them.

A fenced block is an example when its info string carries ``example=NAME``:

    ```json example=telemetry topic=fg/v1/d/JQ-HYD-0002/telemetry expect=readings:2

The words after the language are ``key=value`` attributes; GitHub and most renderers show only
the language, so an attribute is for the test, and the prose around the block says the same to
the reader. Which runner executes an example is decided here, once (``runner_of``), so a marked
example nobody runs is a test failure rather than a silent pass.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
DOCS: Final = ROOT / "docs"

_FENCE: Final = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")

# Runners, by what an example is: an MQTT payload (it names its topic), a registry or grid file
# (it names what it imports), a documented answer (it names the request it answers), or a shell
# command whose first word says which tool it drives.
MQTT: Final = "mqtt"
FILE_IMPORT: Final = "file-import"
RESPONSE: Final = "response"
HTTP: Final = "http"
CLI: Final = "cli"
MQTT_PUB: Final = "mosquitto_pub"
RUNNERS: Final = (MQTT, FILE_IMPORT, RESPONSE, HTTP, CLI, MQTT_PUB)


@dataclass(frozen=True)
class Example:
    """One marked fenced block: where it is, its language, attributes and text."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    attrs: dict[str, str]
    body: str

    @property
    def name(self) -> str:
        """Return the example's name (its ``example=`` attribute)."""
        return self.attrs["example"]

    @property
    def where(self) -> str:
        """Return ``docs/x.md:12 (name)`` for messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.name})"


def markdown_files() -> list[Path]:
    """Return the project's Markdown the tests check: README.md and everything under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """Return (line, info string, body) of every fenced block in ``path``."""
    blocks: list[tuple[int, str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, start = match["fence"], i
        body: list[str] = []
        i += 1
        # A fence closes with the same character, at least as long, and nothing after it.
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and set(lines[i].strip()) == {fence[0]}
        ):
            body.append(lines[i])
            i += 1
        blocks.append((start + 1, match["info"].strip(), "\n".join(body) + "\n"))
        i += 1
    return blocks


def parse_info(info: str) -> tuple[str, dict[str, str]]:
    """Split an info string into its language and ``key=value`` attributes."""
    words = info.split()
    if not words:
        return "", {}
    attrs: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"attribute {word!r} is not key=value")
        attrs[key] = value
    return words[0], attrs


def examples(paths: list[Path] | None = None) -> list[Example]:
    """Return every marked example in ``paths`` (default: all the project's Markdown)."""
    found: list[Example] = []
    for path in paths if paths is not None else markdown_files():
        for line, info, body in fenced_blocks(path):
            lang, attrs = parse_info(info)
            if "example" in attrs:
                found.append(Example(path, line, lang, attrs, body))
    return found


def runner_of(example: Example) -> str | None:
    """Return the runner that executes ``example``, or None when none does."""
    if "topic" in example.attrs and example.lang in {"json", "text", "hex"}:
        return MQTT
    if "import" in example.attrs and example.lang in {"csv", "json"}:
        return FILE_IMPORT
    if "response" in example.attrs and example.lang == "json":
        return RESPONSE
    if example.lang in {"bash", "sh", "console"}:
        first = {command_words(c)[0] for c in commands(example.body)}
        if first == {"curl"}:
            return HTTP
        if first == {"firegrid"}:
            return CLI
        if first == {"mosquitto_pub"}:
            return MQTT_PUB
    return None


def commands(script: str) -> list[str]:
    """Return the commands of a shell example: comments dropped, ``\\`` continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", script)
    out: list[str] = []
    for line in joined.splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            out.append(text)
    return out


def command_words(command: str) -> list[str]:
    """Split one shell command into words, dropping a trailing ``# comment``."""
    return shlex.split(command, comments=True)


def by_name(name: str) -> Example:
    """Return the example named ``name``."""
    matches = [e for e in examples() if e.name == name]
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} examples are named {name!r}")
    return matches[0]


def files() -> dict[str, Example]:
    """Return the examples that stand for a file (``file=NAME``), by that file name."""
    return {e.attrs["file"]: e for e in examples() if "file" in e.attrs}
