"""The deadline table file (YAML) and the local file merged over it.

::

    version: 1
    remind: 75%                       # default reminder: at 75 % of a stage's time,
                                      # or "15min before" the deadline
    rows:
      - match: {}                     # every case; keys: category, urgency, area_type ("*" = any)
        file: 30min                   # durations: 30min, 1h, 7h30min, 90s, 1d; 2wd = two
        sign: 1h                      #   standard working days of the calendar (working rows)
        handle: 1wd
        verify: 1h
      - match: {area_type: rural}
        verify: 2h                    # a row may give only some stages
      - match: {category: fire, urgency: urgent}
        wall_clock: true              # counted day and night, not in working time
        remind: 5min before           # this row's stages remind 5 min before their deadline
        sign: 10min

For each stage the most specific matching row giving it wins. A local file has the same format:
a row whose ``match`` equals a row of the defaults replaces that row's stages one by one (its
``wall_clock`` and ``remind`` go with the stages it gives); other rows are added; its ``remind``
replaces the default reminder. Every problem of a file is reported at once with its line.
"""

from __future__ import annotations

import re
from itertools import product
from pathlib import Path
from typing import Final

import yaml

from devices.models import REPORT_CATEGORIES
from dispatch.calendar import WorkCalendar
from dispatch.config_file import Reader, compose_file, parse_duration, read_bytes
from dispatch.deadlines import (
    AREA_TYPES,
    DEFAULT_REMINDER,
    STAGES,
    URGENCIES,
    DeadlineTable,
    Match,
    Reminder,
    Stage,
    StageLimit,
)

__all__ = ["DEFAULT_DEADLINES", "TableFile", "load_deadlines", "merge", "parse_deadlines"]

DEFAULT_DEADLINES: Final = Path(__file__).with_name("deadlines.yaml")

_TOP: Final = frozenset({"version", "remind", "rows"})
_ROW: Final = frozenset({"match", "wall_clock", "remind", "note", *STAGES})
_MATCH_CHOICES: Final = {
    "category": tuple(sorted(REPORT_CATEGORIES)),
    "urgency": URGENCIES,
    "area_type": AREA_TYPES,
}
_WORKING_DAYS: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*wd\s*(.*)")
_DAYS: Final = re.compile(r"\d\s*d\b")
_PERCENT: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_BEFORE: Final = re.compile(r"(.+?)\s+before\s*")


class TableFile:
    """One parsed table file: its limits keyed by (match, stage), and its default reminder."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.limits: dict[tuple[Match, str], StageLimit] = {}
        self.remind: Reminder | None = None


def _read_remind(r: Reader, node: yaml.Node, where: str) -> Reminder | None:
    raw = r.value(node)
    text = raw if isinstance(raw, str) else ""
    if m := _PERCENT.fullmatch(text):
        if 0 < float(m.group(1)) < 100:
            return Reminder(fraction=float(m.group(1)) / 100)
    elif (m := _BEFORE.fullmatch(text)) and (before := parse_duration(m.group(1))):
        return Reminder(before=before)
    r.problem(node, where, 'must be a percentage like "75%" (0-100) or like "15min before"')
    return None


def _read_match(r: Reader, node: yaml.Node, where: str) -> Match | None:
    entry = r.mapping(node, where, frozenset(_MATCH_CHOICES))
    n_before = len(r.problems)
    values: dict[str, str | None] = {}
    for key, choices in _MATCH_CHOICES.items():
        if key not in entry:
            values[key] = None
            continue
        value = r.value(entry[key][1])
        if value == "*":
            values[key] = None
        elif value in choices:
            values[key] = value
        else:
            r.problem(entry[key][1], f"{where}.{key}", "must be * or one of " + ", ".join(choices))
    if len(r.problems) > n_before or not isinstance(node, yaml.MappingNode):
        return None
    return Match(values["category"], values["urgency"], values["area_type"])


def _read_row(r: Reader, node: yaml.Node, where: str, out: TableFile) -> None:
    entry = r.mapping(node, where, _ROW)
    if not entry:
        if isinstance(node, yaml.MappingNode):
            r.problem(node, where, "is empty")
        return
    if "match" not in entry:
        r.problem(node, where, "match: is required ({} for every case)")
        return
    match = _read_match(r, entry["match"][1], f"{where}.match")
    wall_clock = False
    if "wall_clock" in entry:
        wall_clock = r.value(entry["wall_clock"][1])
        if not isinstance(wall_clock, bool):
            r.problem(entry["wall_clock"][1], f"{where}.wall_clock", "must be true or false")
    remind = None
    if "remind" in entry:
        remind = _read_remind(r, entry["remind"][1], f"{where}.remind")
    stages = [s for s in STAGES if s in entry]
    if not stages:
        r.problem(node, where, "gives no stage (file, sign, handle, verify)")
    for stage in stages:
        limit = _read_stage(
            r, entry[stage], where, stage=stage, match=match, wall_clock=wall_clock, remind=remind
        )
        if limit is None:
            continue
        if (limit.match, stage) in out.limits:
            first = out.limits[limit.match, stage].line
            r.problem(
                entry[stage][0],
                f"{where}.{stage}",
                f"{limit.match} already gives {stage} at line {first}",
            )
            continue
        out.limits[limit.match, stage] = limit


def _read_stage(
    r: Reader,
    nodes: tuple[yaml.Node, yaml.Node],
    row_where: str,
    *,
    stage: Stage,
    match: Match | None,
    wall_clock: object,
    remind: Reminder | None,
) -> StageLimit | None:
    key_node, value_node = nodes
    where = f"{row_where}.{stage}"
    raw = r.value(value_node)
    text = raw if isinstance(raw, str) else ""
    days, rest = 0.0, text
    if m := _WORKING_DAYS.fullmatch(text):
        days, rest = float(m.group(1)), m.group(2)
    time = parse_duration(rest) if rest.strip() else parse_duration("0s")
    if time is None or not text.strip():
        r.problem(value_node, where, "must be a duration like 30min, 1h, 7h30min or 2wd")
        return None
    if days and wall_clock is True:
        r.problem(value_node, where, "working days (wd) cannot be counted on a wall clock")
        return None
    if wall_clock is not True and _DAYS.search(rest):
        # 1d of working time would be 24 working hours, three days and more: surely not meant.
        r.problem(value_node, where, "in working time, count days as working days (1wd)")
        return None
    if match is None or not isinstance(wall_clock, bool):
        return None  # reported where the match or the flag was read
    line = key_node.start_mark.line + 1
    return StageLimit(match, stage, time, days, wall_clock, remind, r.source, line)


def parse_deadlines(
    text: str | bytes, *, source: str = "deadlines.yaml", complete: bool = True
) -> TableFile:
    """Parse a table file; ``complete``: every stage of every kind of case must be covered."""
    raw = text.encode() if isinstance(text, str) else text
    root = compose_file(raw, source)
    r = Reader(source)
    out = TableFile(source)
    top = r.mapping(root, "file", _TOP)
    if "version" not in top or r.value(top["version"][1]) != 1:
        r.problem(top.get("version", (root, root))[1], "version", "must be 1")
    if "remind" in top:
        out.remind = _read_remind(r, top["remind"][1], "remind")
    if "rows" not in top:
        if complete:
            r.problem(root, "rows", "is required")
    else:
        for i, node in enumerate(r.sequence(top["rows"][1], "rows")):
            _read_row(r, node, f"rows[{i}]", out)
    if complete and not r.problems:
        rows_node = top["rows"][1]
        for stage, cat, urg, area in product(
            STAGES, sorted(REPORT_CATEGORIES), URGENCIES, AREA_TYPES
        ):
            if not any(m.matches(cat, urg, area) for m, s in out.limits if s == stage):
                r.problem(rows_node, "rows", f"no row gives {stage} for {cat}/{urg}/{area}")
                break  # one is enough to show what is missing
    r.raise_if_any()
    return out


def merge(base: TableFile, local: TableFile) -> TableFile:
    """Lay a local table file over the defaults: same (match, stage) replaced, others added."""
    out = TableFile(f"{base.source}+{local.source}")
    out.limits = {**base.limits, **local.limits}
    out.remind = local.remind or base.remind
    return out


def table_from(parsed: TableFile, calendar: WorkCalendar) -> DeadlineTable:
    """Build the DeadlineTable of a parsed (and merged) file on a calendar."""
    return DeadlineTable(tuple(parsed.limits.values()), calendar, parsed.remind or DEFAULT_REMINDER)


def load_deadlines(
    path: str | Path = DEFAULT_DEADLINES,
    *,
    local: str | Path | None = None,
    calendar: WorkCalendar | None = None,
) -> DeadlineTable:
    """Read the deadline table (the shipped defaults by default) and a local file over it."""
    p = Path(path)
    parsed = parse_deadlines(read_bytes(p), source=p.name)
    if local is not None:
        lp = Path(local)
        parsed = merge(parsed, parse_deadlines(read_bytes(lp), source=lp.name, complete=False))
    return table_from(parsed, calendar or WorkCalendar())
