"""Dispatch configuration files (deadline table, work calendar): YAML read with line numbers.

Like ``rules.rules_file``, a file is composed into YAML nodes first so every problem can name
its line, and every problem of a file is reported at once as ``deadlines.yaml:12: where: what``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from dispatch.exceptions import DispatchError

__all__ = ["ConfigFileError", "ConfigProblem", "Reader", "compose_file", "parse_duration"]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in a configuration file, located by line and by path."""

    source: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        """Render as ``deadlines.yaml:42: rows[3].sign: not a duration``."""
        return f"{self.source}:{self.line}: {self.where}: {self.message}"


class ConfigFileError(DispatchError):
    """A configuration file was refused; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} problem(s) in configuration file: {shown}{more}")


INVALID: Final = object()  # the value of a node YAML could not construct

Entry = Mapping[str, tuple[yaml.Node, yaml.Node]]


class Reader:
    """Walks a composed YAML document, collecting problems with the line of each node."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []
        self._constructor = yaml.SafeLoader("")

    def problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        """Record a problem at the line of ``node``."""
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(ConfigProblem(self.source, line, where, message))

    def value(self, node: yaml.Node) -> Any:
        """Construct the Python value of a node (dates become ``datetime.date``).

        A scalar YAML cannot construct (``2026-13-01`` looks like a date but is none) gives
        ``INVALID``, which no caller accepts, so it is reported where it is expected.
        """
        try:
            return self._constructor.construct_document(node)
        except (ValueError, yaml.YAMLError):
            return INVALID

    def mapping(self, node: yaml.Node, where: str, keys: frozenset[str] | None = None) -> Entry:
        """Return key -> (key node, value node); report non-mappings, duplicates, unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, where, "must be a mapping")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                self.problem(key_node, where, f"key {key!r} must be a text")
            elif key in out:
                self.problem(key_node, f"{where}.{key}", "duplicate key")
            elif keys is not None and key not in keys:
                self.problem(key_node, f"{where}.{key}", "unknown key")
            else:
                out[key] = (key_node, value_node)
        return out

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        """Return the items of a YAML list, reporting anything else."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, where, "must be a list")
            return []
        return list(node.value)

    def duration(self, node: yaml.Node, where: str) -> timedelta | None:
        """Read a duration such as ``30min``, ``1h``, ``7h30min`` or ``90s``."""
        raw = self.value(node)
        parsed = parse_duration(raw) if isinstance(raw, str) else None
        if parsed is None:
            self.problem(node, where, "must be a duration like 30min, 1h, 7h30min")
        return parsed

    def raise_if_any(self) -> None:
        """Raise ConfigFileError with every problem, in line order, if there were any."""
        if self.problems:
            raise ConfigFileError(sorted(self.problems, key=lambda p: p.line))


_DURATION: Final = re.compile(
    r"\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*min)?\s*(?:(?P<s>\d+)\s*s)?\s*"
)


def parse_duration(text: str) -> timedelta | None:
    """Parse ``1d``, ``1h``, ``30min``, ``7h30min``, ``90s`` (wall-clock units); None if not one."""
    m = _DURATION.fullmatch(text)
    if m is None or not any(m.groups()):
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.group("d", "h", "m", "s"))
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def compose_file(raw: bytes, source: str) -> yaml.Node:
    """Compose a YAML document into nodes, refusing a file that is not YAML or is empty."""
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = ConfigProblem(source, line, "file", f"not YAML: {exc.problem}")
        raise ConfigFileError([problem]) from exc
    if root is None:
        raise ConfigFileError([ConfigProblem(source, 1, "file", "is empty")])
    return root


def read_bytes(path: Path) -> bytes:
    """Read a configuration file, turning an OSError into a located problem."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigFileError([ConfigProblem(path.name, 1, "file", f"cannot read: {exc}")]) from exc
