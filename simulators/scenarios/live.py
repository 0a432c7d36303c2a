"""``firegrid simulate``: run a scenario against a running FireGrid and watch for its hazards.

Here the running FireGrid's own rules role evaluates what ingest commits, and ticks on its own
wall clock, so these hooks only import grids and read hazards. They reach into ``rules`` (grid
import, hazard listing) lazily: this is the composition root's side of the scenarios, kept next
to them so ``firegrid/cli.py`` needs only its subcommand.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg

from simulators.publish import Publisher
from simulators.scenarios import build, new_tag
from simulators.scenarios.models import (
    About,
    Mismatch,
    ObservedCase,
    ObservedHazard,
    Scenario,
    case_mismatches,
    compare,
)
from simulators.scenarios.runner import GatewayOffError, run
from simulators.terminal_cases import Behaviour, CaseTerminal


def observe(row: dict[str, Any]) -> ObservedHazard:
    """Reduce a stored hazard row to what scenarios compare (a report: its terminal's)."""
    report = row["subject_type"] == "report"
    about: About = "device" if report or row["subject_type"] == "terminal" else row["subject_type"]
    return ObservedHazard(
        rule_id=row["rule_id"],
        subject=row["device_id"] if report else row["subject_id"],
        about=about,
        severity=row["severity"],
        status=row["status"],
        occurrences=int(row["occurrences"]),
        grid_code=row["grid_code"],
    )


def stored_hazards(db_url: str, scenario: Scenario) -> list[ObservedHazard]:
    """Return every stored hazard about the scenario's devices, units and grids."""
    from hazards.service import list_hazards

    rows: list[dict[str, Any]] = []
    with psycopg.connect(db_url) as conn:
        for device_id in sorted(scenario.device_ids):
            rows += [h.model_dump() for h in list_hazards(conn, device_id=device_id, limit=1000)]
        for unit_id in sorted(scenario.unit_ids):
            found = list_hazards(conn, unit_id=unit_id, limit=1000)
            rows += [h.model_dump() for h in found if h.subject_type == "unit"]
        for code in sorted(scenario.grid_codes):
            found = list_hazards(conn, area=code, limit=1000)
            rows += [
                h.model_dump() for h in found if h.subject_type == "grid" and h.subject_id == code
            ]
    return [observe(r) for r in rows]


def stored_cases(db_url: str, scenario: Scenario) -> list[ObservedCase]:
    """Return every stored case of the scenario's units, with its history's (action, actor)."""
    units = sorted(scenario.unit_ids)
    with psycopg.connect(db_url) as conn:
        cases = conn.execute(
            "SELECT case_id, unit_id, category, status, assignee, handled_by FROM cases"
            " WHERE unit_id = ANY(%s) ORDER BY case_id",
            (units,),
        ).fetchall()
        steps = conn.execute(
            "SELECT case_id, action, actor FROM case_history WHERE case_id = ANY(%s)"
            " ORDER BY case_id, seq",
            ([c[0] for c in cases],),
        ).fetchall()
    return [
        ObservedCase(
            case_id,
            unit_id,
            category,
            status,
            assignee,
            handled_by,
            steps=tuple((action, actor) for cid, action, actor in steps if cid == case_id),
        )
        for case_id, unit_id, category, status, assignee, handled_by in cases
    ]


@dataclass
class LiveHooks:
    """Hooks for a FireGrid whose rules role runs by itself."""

    db_url: str
    with_grids: bool = True

    def import_grids(self, collection: dict[str, Any]) -> None:
        """Merge the scenario's street into a new version (unless told not to).

        Merged, never replacing: run against an operator's FireGrid, the scenario adds its
        own street and every other street stays where it was.
        """
        if not self.with_grids:
            return
        from grids.flows import import_grid_file

        with psycopg.connect(self.db_url) as conn:
            import_grid_file(conn, data=collection, source="firegrid simulate")

    def evaluate(self) -> None:
        """Leave evaluation to the running rules role."""

    def tick(self, now: datetime, checks: tuple[str, ...]) -> None:
        """Leave ticking to the running rules role, whose clock reaches ``now`` by itself."""
        del now, checks

    def hazards(self, scenario: Scenario) -> list[ObservedHazard]:
        """Return the scenario's stored hazards (grid ones only if it is about grids).

        A running rules role judges every grid of the current version each day, so a scenario
        that only borrows grids to locate its devices would see patrol hazards it never asked
        for; only a scenario that declares grid hazards is held to them.
        """
        about_grids = any(h.about == "grid" for h in scenario.expected_hazards)
        seen = stored_hazards(self.db_url, scenario)
        return seen if about_grids else [h for h in seen if h.about != "grid"]


@dataclass(frozen=True)
class Verdict:
    """How one live run of a scenario ended: what it expected, what differs, how long it took."""

    name: str
    tag: str
    mismatch: Mismatch
    hazards: int  # expected
    cases: int  # expected
    seconds: float

    @property
    def ok(self) -> bool:
        """Return whether every expected hazard and case is there, and nothing else."""
        return self.mismatch.ok

    @property
    def line(self) -> str:
        """Return the verdict as one line: PASS or FAIL, the name, counts, seconds."""
        m = self.mismatch
        parts = [f"{self.hazards - len(m.missing)}/{self.hazards} hazards", f"{len(m.extra)} extra"]
        if self.cases:
            parts.append("cases as expected" if not m.cases else f"{len(m.cases)} case differences")
        word = "PASS" if self.ok else "FAIL"
        return f"{word} {self.name} [{self.tag}]: {', '.join(parts)}, {self.seconds:.1f} s"


def simulate(
    name: str,
    *,
    db_url: str,
    mqtt_url: str,
    prefix: str,
    speed: float = 0.0,
    wait_s: float = 30.0,
    clock_wait_s: Callable[[Scenario], float] = lambda _s: 0.0,
    with_grids: bool = True,
    say: Callable[[str], None] = print,
    gateway: str | None = None,
) -> Verdict | None:
    """Run scenario ``name``; watch for its hazards and cases until they are all there, or the
    deadline passes (None: ``wait_s`` is 0, not checked).

    The deadline is ``wait_s`` after the timeline was sent, plus ``clock_wait_s(scenario)``: how
    long the running FireGrid's clocks (silence and daily looks, case deadlines) take to reach
    what the scenario needs. A case scenario's terminals are started first (subscribed before
    anything is sent to them) and answer their inbox until the run ends. A scenario of
    GB/T 26875.3 devices sends to the gateway at ``gateway`` (``host:port``); with none it is
    skipped, said why (None).
    """
    started = time.monotonic()
    scenario = build(name, tag=new_tag(), prefix=prefix)
    say(f"{scenario.name} [{scenario.tag}]: {scenario.description.strip().splitlines()[0]}")
    if scenario.transmits and gateway is None:
        say(str(GatewayOffError(scenario.name)))
        return None
    hooks = LiveHooks(db_url, with_grids=with_grids)
    with ExitStack() as stack:
        for plan in scenario.terminals:
            stack.enter_context(
                CaseTerminal(
                    mqtt_url,
                    plan.terminal_id,
                    prefix=prefix,
                    behaviour=Behaviour(plan.behaviour),
                    delay_s=plan.delay_s,
                )
            )
        with Publisher(mqtt_url, client_id=f"firegrid-simulate-{scenario.tag}") as publisher:
            run(
                scenario,
                db_url=db_url,
                publisher=publisher,
                hooks=hooks,
                speed=speed,
                progress=say,
                gateway=gateway,
            )
        if wait_s <= 0:
            return None
        extra = max(0.0, clock_wait_s(scenario))
        if extra:
            say(f"{scenario.name}: waiting up to {extra + wait_s:.0f} s for FireGrid's clocks")
        deadline = time.monotonic() + wait_s + extra
        result = _check(scenario, hooks)
        while not result.ok and time.monotonic() < deadline:
            time.sleep(0.5 if scenario.terminals else 2.0)
            result = _check(scenario, hooks)
    return Verdict(
        scenario.name,
        scenario.tag,
        result,
        hazards=len(scenario.expected_hazards),
        cases=len(scenario.expected_cases),
        seconds=time.monotonic() - started,
    )


def _check(scenario: Scenario, hooks: LiveHooks) -> Mismatch:
    result = compare(scenario.expected_hazards, hooks.hazards(scenario))
    if not scenario.expected_cases:
        return result
    cases = case_mismatches(scenario.expected_cases, stored_cases(hooks.db_url, scenario))
    return replace(result, cases=cases)
