"""YAML files read with line numbers: every problem of a file found, located and reported at once.

A file is composed into YAML nodes first, not loaded into values, so each problem can name its
line: ``rules.yaml:42: rules[3].params.low: must be a number``. The rules file and the dispatch
configuration files (deadline table, work calendar) build their readers on ``YamlReader``; each
raises its own subclass of ``FileProblemsError`` so callers catch the error of their domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import yaml

__all__ = ["INVALID", "Entry", "FileProblem", "FileProblemsError", "YamlReader", "read_bytes"]


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One thing wrong in a file, located by line and by path."""

    source: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        """Render as ``deadlines.yaml:42: rows[3].sign: not a duration``."""
        return f"{self.source}:{self.line}: {self.where}: {self.message}"


class FileProblemsError(Exception):
    """A file was refused; ``problems`` lists every problem found, not only the first."""

    what: ClassVar[str] = "file"  # how the message names the file: "rules file", ...

    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} problem(s) in {self.what}: {shown}{more}")


INVALID: Final = object()  # the value of a node YAML could not construct

Entry = Mapping[str, tuple[yaml.Node, yaml.Node]]


class YamlReader:
    """Walks a composed YAML document, collecting problems with the line of each node."""

    error: ClassVar[type[FileProblemsError]] = FileProblemsError

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[FileProblem] = []
        self._constructor = yaml.SafeLoader("")

    def compose(self, raw: bytes) -> yaml.Node:
        """Compose a YAML document into nodes, refusing a file that is not YAML or is empty."""
        try:
            root = yaml.compose(raw, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise self.error([self._at(line, "file", f"not YAML: {exc.problem}")]) from exc
        if root is None:
            raise self.error([self._at(1, "file", "is empty")])
        return root

    def _at(self, line: int, where: str, message: str) -> FileProblem:
        return FileProblem(self.source, line, where, message)

    def problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        """Record a problem at the line of ``node``."""
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(self._at(line, where, message))

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

    def raise_if_any(self) -> None:
        """Raise this reader's error with every problem, in line order, if there were any."""
        if self.problems:
            raise self.error(sorted(self.problems, key=lambda p: p.line))


def read_bytes(path: Path, error: type[FileProblemsError]) -> bytes:
    """Read a file, turning an OSError into a located problem raised as ``error``."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error([FileProblem(path.name, 1, "file", f"cannot read: {exc}")]) from exc
