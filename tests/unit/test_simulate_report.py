"""`firegrid simulate`'s verdict line and its table of differences: read by people."""

from __future__ import annotations

from rich.console import Console

from firegrid.settings import Settings
from firegrid.simulate_command import SLACK_S, clock_wait_s, hazard_table
from rules.config import RulesSettings
from simulators.scenarios import build
from simulators.scenarios.live import Verdict
from simulators.scenarios.models import (
    HAZARD_FIELDS,
    ExpectedHazard,
    ObservedHazard,
    compare,
)

WANT = [
    ExpectedHazard("hydrant_sudden_drop", "HYD-1", "major", "cleared", grid_code="3205001"),
    ExpectedHazard("smoke_alarm", "SMK-1", "major", "open"),
]
SEEN = [
    # The same hazard with its status wrong: paired with the expectation, status marked.
    ObservedHazard("hydrant_sudden_drop", "HYD-1", "device", "major", "open", 1, "3205001"),
    ObservedHazard("smoke_alarm", "SMK-9", "device", "major", "open", 1, None),
]


WANT_SEEN = ObservedHazard(
    "hydrant_sudden_drop", "HYD-1", "device", "major", "cleared", 1, "3205001"
)


def _render(table: object) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_the_table_pairs_a_missing_hazard_with_its_look_alike_and_marks_the_difference() -> None:
    mismatch = compare(WANT, SEEN)
    text = _render(hazard_table(mismatch, HAZARD_FIELDS))
    rows = [line for line in text.splitlines() if "expected" in line or "observed" in line]
    rows += [line for line in text.splitlines() if "extra" in line]
    hydrant = [line for line in rows if "HYD-1" in line]
    assert len(hydrant) == 2
    assert "≠ open" in hydrant[1]
    assert "≠" not in hydrant[1].replace("≠ open", "")  # only the status differs
    smoke = [line for line in rows if "SMK-1" in line]
    assert len(smoke) == 1
    assert smoke[0].lstrip("│ ").startswith("expected")
    assert "(none)" in text  # SMK-1 was never stored
    assert any(line.lstrip("│ ").startswith("extra") and "SMK-9" in line for line in rows)
    assert "ExpectedHazard(" not in text
    assert "ObservedHazard(" not in text


def test_the_verdict_is_one_line_with_counts_and_seconds() -> None:
    failed = Verdict("hydrant_drop", "ab12cd34", compare(WANT, SEEN), 2, 0, 12.34)
    assert failed.line == "FAIL hydrant_drop [ab12cd34]: 0/2 hazards, 2 extra, 12.3 s"
    passed = Verdict("case_closed", "ab12cd34", compare(WANT[:1], [WANT_SEEN]), 1, 1, 4.0)
    assert (
        passed.line == "PASS case_closed [ab12cd34]: 1/1 hazards, 0 extra, cases as expected, 4.0 s"
    )


def test_the_live_deadline_follows_the_running_firegrids_clocks() -> None:
    settings = Settings(
        rules=RulesSettings(silence_every_s=60, daily_every_s=600, rejudge_settle_s=60)
    )
    # Silence: the tick 5 min after the base, seen at the next silence look.
    silence = clock_wait_s(build("silence", tag="0a0b0c0d"), settings)
    assert 300 + 60 <= silence <= 300 + 60 + SLACK_S
    # Dates: the next daily look.
    assert clock_wait_s(build("extinguisher_dates", tag="0a0b0c0d"), settings) == 600 + SLACK_S
    # Yesterday's patrols sent today: judged again at the daily look after they settle.
    assert clock_wait_s(build("patrol", tag="0a0b0c0d"), settings) == 600 + 60 + SLACK_S
    # Escalation: a confirmed fire's case filed (5 min) then signed (10 min), wall clock.
    escalated = clock_wait_s(build("case_escalated", tag="0a0b0c0d"), settings)
    assert 15 * 60 <= escalated <= 15 * 60 + settings.dispatch.sweep_s + SLACK_S + 1
    # A scenario judged on arriving data needs no clock.
    assert clock_wait_s(build("hydrant_drop", tag="0a0b0c0d"), settings) == 0.0
