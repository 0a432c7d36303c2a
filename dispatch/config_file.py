"""Dispatch configuration files (deadline table, work calendar): YAML read with line numbers.

Read with ``infra.yaml_file`` like the rules file: composed into YAML nodes first so every
problem can name its line, all reported at once as ``deadlines.yaml:12: where: what``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Final

import yaml

from dispatch.exceptions import DispatchError
from infra import yaml_file
from infra.yaml_file import FileProblem, FileProblemsError, YamlReader

__all__ = ["ConfigFileError", "ConfigProblem", "Reader", "compose_file", "parse_duration"]

ConfigProblem = FileProblem  # one thing wrong in a configuration file, located


class ConfigFileError(FileProblemsError, DispatchError):
    """A configuration file was refused; ``problems`` lists every problem found."""

    what = "configuration file"


class Reader(YamlReader):
    """The YAML reader of dispatch's files: problems raise ConfigFileError; durations."""

    error = ConfigFileError

    def duration(self, node: yaml.Node, where: str) -> timedelta | None:
        """Read a duration such as ``30min``, ``1h``, ``7h30min`` or ``90s``."""
        raw = self.value(node)
        parsed = parse_duration(raw) if isinstance(raw, str) else None
        if parsed is None:
            self.problem(node, where, "must be a duration like 30min, 1h, 7h30min")
        return parsed


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
    return Reader(source).compose(raw)


def read_bytes(path: Path) -> bytes:
    """Read a configuration file, turning an OSError into a located problem."""
    return yaml_file.read_bytes(path, ConfigFileError)
