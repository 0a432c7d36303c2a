"""Patrol days judged again: the hazards end as a first judgement of today's inputs leaves them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from hazards.lifecycle import InMemorySink
from hazards.models import Severity
from rules.engine.evaluate import hazard_op
from rules.kinds.patrol import PatrolDay, PatrolParams, PatrolState, evaluate
from rules.kinds.patrol_again import Action, judge_again
from rules.models import Resolved, Transition, cst_day, cst_day_start
from rules.rejudge import day_date, day_number, keep_ms

RULE = Resolved("grid_patrol", "patrol_compliance", Severity.WARNING, PatrolParams())
DAY = cst_day(1_795_674_600_000)  # 2026-11-26 CST
H = 3_600_000


def day(n: int, grids: Sequence[str], patrolled: Sequence[str]) -> PatrolDay:
    """Day DAY + n: each grid of ``patrolled`` walked twice for an hour, the rest not at all."""
    base = cst_day_start(DAY + n)
    walks = [(g, h) for g in patrolled for h in (8, 14)]
    return PatrolDay.build(
        day=DAY + n,
        grids=grids,
        grid=[g for g, _ in walks],
        start=[base + h * H for _, h in walks],
        end=[base + (h + 1) * H for _, h in walks],
        valid=[True] * len(walks),
    )


def first(days: Sequence[PatrolDay], sink: InMemorySink) -> list[PatrolState]:
    """Judge ``days`` in order from nothing, into ``sink``; return the state after each."""
    state, states = PatrolState(), []
    for d in days:
        state, trs = evaluate(d, state, RULE)
        sink.apply([hazard_op("apply", RULE, t.key, t) for t in trs])
        states.append(state)
    return states


def apply(sink: InMemorySink, ops: Sequence[tuple[Action, Transition]]) -> None:
    sink.apply([hazard_op(action, RULE, t.key, t) for action, t in ops])


def live(sink: InMemorySink) -> dict[str, tuple[int, int]]:
    """Return each live episode's key with (opened at, occurrences)."""
    return {h.key: (h.opened_at, h.occurrences) for h in sink.hazards() if h.live}


def episodes(sink: InMemorySink) -> list[tuple[str, int, str, int, int | None, int]]:
    """Return every episode: key, number, status, opened, cleared, occurrences."""
    return sorted(
        (h.key, h.episode, h.status, h.opened_at, h.cleared_at, h.occurrences)
        for h in sink.hazards()
    )


def test_a_day_judged_again_with_nothing_changed_changes_nothing() -> None:
    days = [day(0, ["A", "B"], ["A"]), day(1, ["A", "B"], ["B"])]
    sink = InMemorySink()
    judged = first(days, sink)
    states, ops = judge_again(days, PatrolState(), judged, RULE)
    assert ops == []
    assert states == judged


def test_a_late_patrol_retracts_the_day_s_hazard() -> None:
    # Yesterday G was judged unpatrolled; the phone in the basement uploads both rounds today.
    sink = InMemorySink()
    judged = first([day(0, ["G", "H"], ["H"])], sink)
    assert set(live(sink)) == {"grid:G"}
    states, ops = judge_again([day(0, ["G", "H"], ["G", "H"])], PatrolState(), judged, RULE)
    assert [(a, t.key, t.kind) for a, t in ops] == [("retract", "grid:G", "open")]
    apply(sink, ops)
    assert live(sink) == {}
    assert states[-1].open_grids == frozenset()
    # Retracted, not deleted: a case may hang on it.
    (g,) = sink.hazards()
    assert g.detail.get("retracted") is True
    assert g.cleared_at == g.opened_at


def test_days_judged_again_end_as_a_first_judgement_of_todays_inputs() -> None:
    grids = ["A", "B", "C"]
    then = [day(0, grids, []), day(1, grids, ["A"]), day(2, grids, ["A", "B"])]
    # Late tracks: A was patrolled on day 0 after all, C on day 2; B missed day 1 still.
    now = [day(0, grids, ["A"]), day(1, grids, ["A"]), day(2, grids, ["A", "B", "C"])]
    sink = InMemorySink()
    judged = first(then, sink)
    states, ops = judge_again(now, PatrolState(), judged, RULE)
    apply(sink, ops)
    fresh = InMemorySink()
    assert states == first(now, fresh)
    assert live(sink) == live(fresh) == {}
    # Only from day 1 on: day 0's state kept as the prior (what the engine keeps per day).
    sink, fresh = InMemorySink(), InMemorySink()
    judged = first(then, sink)
    now_from_1 = [day(1, grids, []), day(2, grids, ["A", "B"])]
    states, ops = judge_again(now_from_1, judged[0], judged[1:], RULE)
    apply(sink, ops)
    assert states == first([then[0], *now_from_1], fresh)[1:]
    # Every episode as the first judgement of these inputs left it: A reopened, counted on
    # day 1 and cleared on day 2 rather than on day 1.
    assert episodes(sink) == episodes(fresh)
    assert live(sink) == {"grid:C": (cst_day_start(DAY + 1), 3)}


def test_a_grid_in_force_since_an_earlier_day_is_opened() -> None:
    sink = InMemorySink()
    judged = first([day(0, ["A"], ["A"])], sink)
    # Imported today as in force since day 0: B was short that day.
    states, ops = judge_again([day(0, ["A", "B"], ["A"])], PatrolState(), judged, RULE)
    assert [(a, t.key, t.kind, t.value) for a, t in ops] == [("apply", "grid:B", "open", 0)]
    apply(sink, ops)
    assert live(sink) == {"grid:B": (cst_day_start(DAY + 1), 1)}
    assert states[-1].open_grids == {"B"}


def test_with_the_state_before_unknown_what_was_short_is_taken_as_open_already() -> None:
    # Judged before states were kept per day: A and B were short, A's episode from earlier.
    sink = InMemorySink()
    first([day(-1, ["A", "B"], ["B"]), day(0, ["A", "B"], [])], sink)
    judged = [PatrolState(cst_day_start(DAY + 1), frozenset({"A", "B"}))]
    _, ops = judge_again([day(0, ["A", "B"], ["A", "B"])], None, judged, RULE)
    assert [(a, t.key, t.kind) for a, t in ops] == [
        ("retract", "grid:A", "update"),
        ("apply", "grid:A", "clear"),
        ("retract", "grid:B", "update"),
        ("apply", "grid:B", "clear"),
    ]
    apply(sink, ops)
    assert live(sink) == {}


def test_marked_dates_and_rule_day_numbers_agree() -> None:
    assert day_number(date(2026, 11, 26)) == DAY
    assert day_date(DAY) == date(2026, 11, 26)
    assert keep_ms(7) == 8 * 86_400_000  # the window and the newest state before it
