"""Judging patrol days again: what changes when a judged day's inputs changed afterwards.

A patrol day's judgement leaves the set of grids short that day (``PatrolState.open_grids``),
and the engine keeps that state per judged day as a checkpoint. Judging days again starts
from the state before the first of them, evaluates each judged day from there with the inputs
as they are now, and reconciles per grid: the transitions the first judgements made (derived
from the kept sets: opened, another short day, cleared) and the new ones share a prefix that
already took effect; the rest of the old ones is retracted, newest first, and the rest of the
new ones applied, as late readings are reconciled (``rules.engine.keystate.diff_transitions``).
So a grid short yesterday and patrolled after all has its opening retracted, a grid now known
to exist is opened, and a day judged again with nothing changed changes nothing.

When the state before the first day is unknown (it was judged before states were kept per
day), the grids short on that day are taken as already open before it: what it cleared or
opened anew is still right, only an occurrence may be counted once too often.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from hazards.models import TransitionKind
from rules.exceptions import RulesError
from rules.kinds.patrol import PatrolDay, PatrolParams, PatrolState, evaluate
from rules.models import Resolved, Transition

Action = Literal["apply", "retract"]


def first_judgements(
    prior: frozenset[str], judged: Sequence[PatrolState], rule: Resolved[PatrolParams]
) -> dict[str, list[Transition]]:
    """Return, per hazard key, the transitions the judgements that left ``judged`` made."""
    out: dict[str, list[Transition]] = {}
    before = prior
    for state in judged:
        if state.last_ts is None:
            raise RulesError("a judged patrol day has no time")
        now = state.open_grids
        made: tuple[tuple[TransitionKind, frozenset[str]], ...] = (
            ("open", now - before),
            ("update", now & before),
            ("clear", before - now),
        )
        for kind, grids in made:
            for g in sorted(grids):
                key = rule.params.key_prefix + g
                out.setdefault(key, []).append(
                    Transition(key, rule.rule_id, state.last_ts, kind, rule.severity)
                )
        before = now
    return out


def judge_again(
    days: Sequence[PatrolDay],
    prior: PatrolState | None,
    judged: Sequence[PatrolState],
    rule: Resolved[PatrolParams],
) -> tuple[list[PatrolState], list[tuple[Action, Transition]]]:
    """Judge ``days`` again (each one judged before, leaving ``judged``), from ``prior``.

    Return the state after each day and the operations reconciling the hazards with the new
    judgements: per key, retractions (newest first), then transitions to apply.
    """
    if len(days) != len(judged) or not days:
        raise RulesError("judging again needs each judged day's snapshot, at least one")
    base = judged[0].open_grids if prior is None else prior.open_grids
    old = first_judgements(base, judged, rule)
    state = PatrolState(None if prior is None else prior.last_ts, base)
    states: list[PatrolState] = []
    new: dict[str, list[Transition]] = {}
    for day in days:
        state, transitions = evaluate(day, state, rule)
        states.append(state)
        for t in transitions:
            new.setdefault(t.key, []).append(t)
    ops: list[tuple[Action, Transition]] = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key, []), new.get(key, [])
        same = 0
        while same < min(len(was), len(now)) and (was[same].ts, was[same].kind) == (
            now[same].ts,
            now[same].kind,
        ):
            same += 1
        ops += [("retract", t) for t in reversed(was[same:])]
        ops += [("apply", t) for t in now[same:]]
    return states, ops
