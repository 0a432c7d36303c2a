"""``firegrid simulate NAME | --all``: scenarios against a running FireGrid, judged one line each.

Each run ends as soon as everything it expects is there, or at its deadline: ``--wait`` after
its data was sent, plus what the running FireGrid's own clocks need (the next silence look, the
next daily look, a case's sign deadline), read from the same settings that FireGrid runs with.
A failure prints a table of expected against observed with the differing fields marked.

``--all`` runs the scenarios side by side: most of a run is waiting for FireGrid's clocks (three
silent heartbeats, a sign deadline), and the scenarios share nothing (each has its own street,
devices, terminals and GB/T 26875.3 addresses, under its own run tag), so the whole set takes
as long as its slowest scenario instead of the sum. Verdicts print in the scenarios' order; the
first failure ends the run (exit 1) with what has been judged by then.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import psycopg
from rich.console import Console
from rich.table import Table
from rich.text import Text

from firegrid.cli_commands import InputError, running_firegrid
from firegrid.instance import recorded_gateway
from firegrid.progress import Say, progress
from firegrid.settings import Settings

if TYPE_CHECKING:
    from simulators.scenarios.live import Verdict
    from simulators.scenarios.models import Mismatch, Scenario

SLACK_S = 15.0  # a look of the rules role, a commit, a poll of ours


def simulate_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one scenario or all of them; return 0 if each passed, 1 at the first failure."""
    from simulators.scenarios import SCENARIOS

    if args.list:
        for spec in SCENARIOS.values():
            print(f"{spec.name:<20} {spec.kind:<18} {spec.description}")
        return 0
    if args.all == (args.scenario is not None):
        raise InputError("simulate needs a SCENARIO or --all (or --list)")
    if args.scenario is not None and args.scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {args.scenario!r}; see firegrid simulate --list")
    if args.speed < 0 or args.wait < 0:
        raise InputError("--speed and --wait must be zero or more")
    from simulators.scenarios.runner import ScenarioError

    try:
        db_url, mqtt_url = running_firegrid(settings)
        if not args.all:
            with progress(f"simulating {args.scenario}") as say:
                outcome = _judge(
                    settings, args, args.scenario, db_url=db_url, mqtt_url=mqtt_url, say=say
                )
            return _print(outcome)
        return _all_side_by_side(settings, args, list(SCENARIOS), db_url=db_url, mqtt_url=mqtt_url)
    except (ScenarioError, ConnectionError, psycopg.OperationalError) as exc:
        print(f"firegrid: {_first_line(exc)}", file=sys.stderr)
        return 1


def _all_side_by_side(
    settings: Settings, args: argparse.Namespace, names: list[str], *, db_url: str, mqtt_url: str
) -> int:
    """Run every scenario at once; print the verdicts in ``names``' order; return 0 if all
    passed. At the first failure, print what has ended, say what has not, and return 1 at once.

    Each scenario runs in a daemon thread: one still waiting for FireGrid's clocks when another
    has failed is left to end with the process (what it registered stays, under its run tag).
    """
    ended: queue.Queue[tuple[str, Outcome]] = queue.Queue()
    outcomes: dict[str, Outcome] = {}
    done = threading.Event()  # once set, the scenarios left running say nothing more
    with progress(f"simulating {len(names)} scenarios side by side") as say_now:

        def say(line: str) -> None:
            if not done.is_set():
                say_now(line)

        for name in names:
            judge = partial(_judge, settings, args, name, db_url=db_url, mqtt_url=mqtt_url, say=say)
            threading.Thread(
                target=lambda j=judge, n=name: ended.put((n, _fail_alone(j, n))),
                name=f"simulate-{name}",
                daemon=True,
            ).start()
        while len(outcomes) < len(names):
            name, outcome = ended.get()
            outcomes[name] = outcome
            if not outcome.ok:
                break
        done.set()
    code = max(_print(outcomes[n]) for n in names if n in outcomes)
    running = [n for n in names if n not in outcomes]
    if running:
        print(f"stopped at the first failure; not judged: {', '.join(running)}")
    return code


@dataclass
class Outcome:
    """How one scenario's run ended: its verdict line, and the verdict to detail if it failed."""

    line: str
    ok: bool
    failed: Verdict | None = field(default=None)


def _fail_alone(judge: Callable[[], Outcome], name: str) -> Outcome:
    """Run ``judge``; a scenario that cannot run is a FAIL line of its own: the others go on."""
    from simulators.scenarios.runner import ScenarioError

    try:
        return judge()
    except (ScenarioError, ConnectionError, OSError, psycopg.Error) as exc:
        # Scenario errors already name their scenario.
        return Outcome(f"FAIL {name}: {_first_line(exc).removeprefix(f'{name}: ')}", ok=False)
    except Exception as exc:  # a bug: said, with its traceback, rather than a run that hangs
        traceback.print_exc()
        return Outcome(f"FAIL {name}: {type(exc).__name__}: {_first_line(exc)}", ok=False)


def _judge(
    settings: Settings,
    args: argparse.Namespace,
    name: str,
    *,
    db_url: str,
    mqtt_url: str,
    say: Say,
) -> Outcome:
    """Run scenario ``name`` and return its outcome (PASS, FAIL, SKIP or SENT)."""
    from simulators.scenarios import build
    from simulators.scenarios.live import simulate

    built = build(name, tag="00000000")
    gateway = settings.gb26875 or recorded_gateway(settings)
    if built.transmits and gateway is None:
        return Outcome(
            f"SKIP {name}: it speaks GB/T 26875.3 over TCP and no gateway is on"
            " (FIREGRID_GB26875=host:port, as ./scripts/up sets it)",
            ok=True,
        )
    verdict = simulate(
        name,
        db_url=db_url,
        mqtt_url=mqtt_url,
        prefix=settings.ingest.topic_prefix,
        speed=args.speed,
        wait_s=args.wait,
        clock_wait_s=lambda scenario: clock_wait_s(scenario, settings),
        with_grids=args.grids,
        say=say,
        gateway=gateway,
    )
    if verdict is None:
        return Outcome(f"SENT {name}: not checked (--wait 0)", ok=True)
    return Outcome(verdict.line, ok=verdict.ok, failed=None if verdict.ok else verdict)


def _print(outcome: Outcome) -> int:
    """Print an outcome's line (and a failure's differences); return its exit code."""
    print(outcome.line)
    if outcome.failed is not None:
        print_differences(outcome.failed)
    return 0 if outcome.ok else 1


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def clock_wait_s(scenario: Scenario, settings: Settings) -> float:
    """Return how long the running FireGrid's clocks need to judge what ``scenario`` expects."""
    from simulators.scenarios.models import Tick

    now = datetime.now(UTC)
    wait = 0.0
    for step in scenario.timeline:
        if not isinstance(step, Tick):
            continue
        if "silence" in step.checks:  # due at the tick's time, seen at the next silence look
            due = (scenario.at(step.at) - now).total_seconds()
            wait = max(wait, due + settings.rules.silence_every_s + SLACK_S)
        if "dates" in step.checks:  # judged at the next daily look
            wait = max(wait, settings.rules.daily_every_s + SLACK_S)
        if "patrols" in step.checks:
            # Yesterday's patrols, sent today, are late: the daily look judges the day again
            # once the data has been quiet for the settle time (rules.rejudge).
            settle = settings.rules.rejudge_settle_s
            wait = max(wait, settings.rules.daily_every_s + settle + SLACK_S)
    if scenario.waits_for_sign is not None:
        wait = max(wait, _sign_deadline_s(settings, *scenario.waits_for_sign) + SLACK_S)
    return wait


def _sign_deadline_s(settings: Settings, category: str, urgency: str) -> float:
    """Return the seconds a case of ``category``/``urgency`` dispatched now has to be signed."""
    from dispatch.calendar_file import load_calendar
    from dispatch.deadlines_file import load_deadlines

    now = datetime.now(UTC)
    # The table `firegrid up` builds (firegrid.runtime): shipped, the local file over it.
    table = load_deadlines(
        local=settings.dispatch.deadlines_file,
        calendar=load_calendar(settings.dispatch.calendar_file),
    )
    # File, then sign: the case is dispatched within its file stage, signed after that.
    filed = table.due(
        "file", now, category=category, urgency=urgency, area_type=settings.dispatch.area_type
    )
    signed = table.due(
        "sign", filed, category=category, urgency=urgency, area_type=settings.dispatch.area_type
    )
    return (signed - now).total_seconds() + settings.dispatch.sweep_s


def print_differences(verdict: Verdict) -> None:
    """Print expected against observed hazards (differing fields marked), then the cases."""
    from simulators.scenarios.models import HAZARD_FIELDS

    # Into a pipe or a file rich would assume 80 columns and wrap the cells: give it room.
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 140)
    if verdict.mismatch.missing or verdict.mismatch.extra:
        console.print(hazard_table(verdict.mismatch, HAZARD_FIELDS))
    if verdict.mismatch.cases:
        cases = Table(title=f"{verdict.name}: cases", title_justify="left")
        cases.add_column("difference")
        for line in verdict.mismatch.cases:
            cases.add_row(line)
        console.print(cases)


def hazard_table(mismatch: Mismatch, fields: tuple[str, ...]) -> Table:
    """Return a table with one row per expected and observed hazard that differ.

    A missing hazard sits above the observed one it most likely is (same subject); a field
    that fails the expectation is marked ``≠`` (and red on a terminal). "-" on the expected
    side means any value; "(none)" on the observed side means no such hazard was stored.
    """
    from simulators.scenarios.models import differs, paired

    table = Table(title="hazards: expected vs observed", title_justify="left")
    table.add_column("")
    for name in fields:
        table.add_column(name.replace("_", " "))
    for expected, observed in paired(mismatch):
        if expected is not None:
            table.add_row("expected", *(_cell(getattr(expected, f), dash=True) for f in fields))
        if observed is None:
            table.add_row("observed", "(none)", *("" for _ in fields[1:]))
        else:
            marks = [expected is None or differs(expected, observed, f) for f in fields]
            label = "observed" if expected is not None else "extra"
            table.add_row(
                label,
                *(
                    _cell(getattr(observed, f), marked=expected is not None and mark)
                    for f, mark in zip(fields, marks, strict=True)
                ),
            )
        table.add_section()
    return table


def _cell(value: object, *, dash: bool = False, marked: bool = False) -> Text:
    text = "-" if value is None and dash else "" if value is None else str(value)
    return Text(f"≠ {text}", style="bold red") if marked else Text(text)
