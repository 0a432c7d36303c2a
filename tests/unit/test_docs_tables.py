"""The integrators' field tables say what the code accepts: columns, kinds, roles, metrics, types.

A column added to the registry, a metric or an event type added to the decoders, shows up here
as a failure until docs/integrators/ says it too (and a documented value the code refuses,
likewise), so the pages an integrator builds against cannot drift from the code.
"""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from devices.metrics import KNOWN_METRICS
from devices.models import EVENT_TYPES, REPORT_CATEGORIES, DeviceKind
from devices.registry import Agent, DeviceRow, HydrantClass, Role, StaffRow, UnitRow
from tests.docs_examples import DOCS

INTEGRATORS = DOCS / "integrators"


def section(page: str, heading: str) -> str:
    """Return the text of ``page`` under the heading starting with ``heading``, up to the next."""
    text = (INTEGRATORS / page).read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(heading)}.*$", text, re.MULTILINE)
    assert match is not None, f"{page}: no heading {heading!r}"
    level = len(match[1])
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table(text: str, *, header: str = "") -> list[list[str]]:
    """Return the cells of the first Markdown table in ``text`` whose header names ``header``
    (header and rule rows dropped)."""
    blocks = re.findall(r"(?:^\|.*\n?)+", text, re.MULTILINE)
    for block in blocks:
        rows = block.strip().splitlines()
        if header in rows[0] and len(rows) > 2:
            return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    raise AssertionError(f"no table with {header!r} in its header")


def names(cell: str) -> list[str]:
    """Return the backticked names in a cell."""
    return re.findall(r"`([^`]+)`", cell)


def _columns(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    allowed = set(model.model_fields) - {"thresholds"}
    if "lat" in allowed:
        allowed.add("crs")
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    return allowed, required


@pytest.mark.parametrize(
    ("heading", "model"),
    [("Key units", UnitRow), ("Devices", DeviceRow), ("Staff", StaffRow)],
)
def test_registry_columns_are_the_parsers(heading: str, model: type[BaseModel]) -> None:
    rows = table(section("registry.md", heading))
    documented = {n for row in rows for n in names(row[0])}
    required = {n for row in rows if row[1] == "yes" for n in names(row[0])}
    allowed, wanted = _columns(model)
    if model is DeviceRow:
        allowed.add("threshold.<rule_id>")
    assert documented == allowed
    assert required == wanted


def _values(page: str, heading: str, field: str, column: int) -> set[str]:
    for row in table(section(page, heading)):
        if field in names(row[0]):
            return set(names(row[column]))
    raise AssertionError(f"{page} {heading}: no row for {field}")


def test_enumerated_registry_values_are_the_parsers() -> None:
    assert _values("registry.md", "Devices", "kind", 2) == {k.value for k in DeviceKind}
    assert _values("registry.md", "Devices", "hydrant_class", 2) == {c.value for c in HydrantClass}
    assert _values("registry.md", "Devices", "agent", 2) == {a.value for a in Agent}
    assert _values("registry.md", "Staff", "role", 2) == {r.value for r in Role}


def test_metrics_and_ranges_are_the_decoders() -> None:
    documented: dict[str, tuple[float, float]] = {}
    for row in table(section("mqtt.md", "Telemetry"), header="range"):
        low, high = row[2].replace("\u2212", "-").split("\u2013")
        documented[names(row[0])[0]] = (float(low), float(high))
    assert documented == {n: (s.low, s.high) for n, s in KNOWN_METRICS.items()}


def test_event_types_and_report_categories_are_the_decoders() -> None:
    events = section("mqtt.md", "Events")
    listed = events.split("`type` is one of", 1)[1].split("anything else", 1)[0]
    assert set(names(listed)) == EVENT_TYPES
    assert _values("mqtt.md", "Hazard report", "category", 2) == REPORT_CATEGORIES


def test_grid_problem_reasons_are_the_parsers() -> None:
    text = section("grids.md", "What an import answers").split("Reasons:", 1)[1]
    documented = {n for n in names(text.split("\n\n", 1)[0]) if re.fullmatch(r"[a-z_]+", n)}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS.parent / "grids").glob("*.py"))
    assert not {r for r in documented if f'"{r}"' not in sources}, "documented, never produced"
    # The reason is the second argument of every GridProblem and GridCodeError.
    produced = set(
        re.findall(
            r'(?:GridProblem|GridCodeError)\(\s*[^,()]+(?:\([^()]*\))?[^,()]*,\s*"([a-z_]+)"',
            sources,
        )
    )
    assert produced - documented == set(), "produced, not documented in grids.md"
