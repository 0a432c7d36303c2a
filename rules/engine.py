"""The rules engine core: a committed batch in, hazard operations and durable state out.

The same code serves the live rules role and ``firegrid rules replay``: only the
``StateStore``, ``History`` and ``HazardSink`` behind it differ (database, or memory).

Per batch: readings are grouped per ``device/metric`` and events per device and per unit, in
device-time order; each device's rules come from the rule set and its registry context (cached
per device, re-resolved when the context or the rule set changes). Each rule evaluates all its
keys of the batch at once (threshold in one ``evaluate_columns`` call), with each key's durable
state. Late data follows ``rules.models``: a sample behind a key's last evaluated time but within
``late_window_ms`` makes that key replay from its last checkpoint over the stored series, and the
replay's transitions are reconciled with what was emitted (``rules.keystate.diff_transitions``);
an older one is ``too_late``: recorded and counted, never evaluated. A rule that raises is
logged and skipped for the batch (its state does not move); the others go on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rules.definitions import ResolvedRule, RuleSet
from rules.engine_types import (
    BatchData,
    BatchStats,
    EngineConfig,
    Event,
    EventRows,
    History,
    Reading,
    Samples,
    StateStore,
)
from rules.hazards import HazardOp, HazardSink
from rules.keystate import Emitted, KeyState, diff_transitions
from rules.kinds import KINDS
from rules.kinds.correlation import SYNTHETIC_EVENTS
from rules.kinds.threshold import ThresholdColumns, evaluate_columns
from rules.models import (
    I64,
    BoolArray,
    DeviceContext,
    ManySeries,
    SeriesArrays,
    Severity,
    Transition,
    detect_flapping,
)

log = logging.getLogger(__name__)


class Engine:
    """Evaluate batches and fleet snapshots with a rule set; no I/O of its own."""

    def __init__(self, rules: RuleSet, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.rules = rules
        self._devices: dict[str, tuple[DeviceContext, list[ResolvedRule]]] = {}
        self._units: dict[str, list[ResolvedRule]] = {}

    def set_rules(self, rules: RuleSet) -> None:
        """Use a new rule set from the next batch on; cached resolutions are dropped."""
        self.rules = rules
        self._devices.clear()
        self._units.clear()

    def resolved(self, ctx: DeviceContext) -> list[ResolvedRule]:
        """Return a device's rules, cached until its registry context or the rules change."""
        hit = self._devices.get(ctx.device_id)
        if hit is not None and hit[0] == ctx:
            return hit[1]
        rules = self.rules.resolve(ctx)
        self._devices[ctx.device_id] = (ctx, rules)
        return rules

    def unit_rules(self, unit_id: str) -> list[ResolvedRule]:
        """Return a unit's rules (correlation, false alarms), cached until the rules change."""
        if unit_id not in self._units:
            self._units[unit_id] = self.rules.resolve_unit(unit_id)
        return self._units[unit_id]

    # ---- batches ------------------------------------------------------------------------

    def run_batch(
        self,
        batch: BatchData,
        *,
        contexts: Mapping[str, DeviceContext],
        store: StateStore,
        history: History,
        sink: HazardSink,
    ) -> BatchStats:
        """Evaluate one batch; hand hazard operations to ``sink`` and states to ``store``."""
        stats = BatchStats(len(batch.readings), len(batch.events))
        run = _Run(self, batch.batch_id, store, history, stats)
        series_out = run.series_rules(batch.readings, contexts)
        run.event_rules(batch.events, contexts)
        run.unit_rules(batch.events, series_out, contexts)
        sink.apply(run.ops)
        for rule_id, states in run.to_save.items():
            store.save(rule_id, states)
        return stats

    # ---- fleet snapshots (ticks) ----------------------------------------------------------

    def run_fleet(
        self,
        rule: ResolvedRule,
        snapshot: Any,
        *,
        key: str,
        at: int,
        once: bool,
        store: StateStore,
        sink: HazardSink,
    ) -> list[Transition]:
        """Judge a fleet snapshot (silence, dates, patrol day) with the state kept under ``key``.

        ``at`` is the snapshot's time as the kind stamps it; with ``once`` a time already
        judged is skipped (a day is judged once). A clock set back (a test, a replay) judges
        the snapshot afresh against the open set instead of refusing it.
        """
        spec = KINDS[rule.kind]
        raw = store.load(rule.rule_id, [key])
        ks = KeyState.from_json(spec.state, raw[key]) if key in raw else KeyState(spec.state())
        last = ks.state.last_ts
        if last is not None and (at <= last if once else at < last):
            if once:
                return []
            ks.state = dataclasses.replace(ks.state, last_ts=None)
        state, trs = spec.evaluate(snapshot, ks.state, rule)
        ks.state = state
        sink.apply([_op("apply", rule, t.key, t) for t in trs])
        store.save(rule.rule_id, {key: ks})
        return trs


def _op(
    action: str, rule: ResolvedRule, key: str, tr: Transition, flap: bool | None = None
) -> HazardOp:
    return HazardOp(
        "apply" if action == "apply" else "retract",
        rule.rule_id,
        rule.kind,
        key,
        tr.ts,
        tr.kind,
        tr.severity,
        tr.value,
        tr.detail,
        flap,
    )


def _masks(ts: I64, last_ts: int | None, window_ms: int) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Return (on time, late but within the window, too late) masks of a key's new samples."""
    if last_ts is None:
        return np.ones(ts.size, np.bool_), np.zeros(ts.size, np.bool_), np.zeros(ts.size, np.bool_)
    on_time = ts >= last_ts
    too_late = ts < last_ts - window_ms
    return on_time, ~on_time & ~too_late, too_late


class _Run:
    """One batch's evaluation: collects operations and states for one transaction."""

    def __init__(
        self, engine: Engine, batch_id: int, store: StateStore, history: History, stats: BatchStats
    ) -> None:
        self.engine, self.cfg = engine, engine.config
        self.batch_id, self.store, self.history, self.stats = batch_id, store, history, stats
        self.ops: list[HazardOp] = []
        self.to_save: dict[str, dict[str, KeyState]] = {}

    def series_rules(
        self, readings: Sequence[Reading], contexts: Mapping[str, DeviceContext]
    ) -> list[tuple[str, Transition]]:
        """Evaluate the readings; return (device, transition) of the sudden-drop rules."""
        groups: dict[tuple[str, str], tuple[ResolvedRule, list[Samples]]] = {}
        i, n = 0, len(readings)
        while i < n:
            j = i
            device, metric = readings[i][0], readings[i][1]
            while j < n and readings[j][0] == device and readings[j][1] == metric:
                j += 1
            ctx = contexts.get(device)
            rules = [
                r
                for r in (self.engine.resolved(ctx) if ctx else [])
                if KINDS[r.kind].input == "series" and r.params.metric == metric
            ]
            if rules:
                rows = readings[i:j]
                s = SeriesArrays.build(
                    f"{device}/{metric}",
                    np.array([r[2] for r in rows], np.int64),
                    [r[3] for r in rows],
                    [r[4] for r in rows],
                )
                for r in rules:
                    groups.setdefault((r.rule_id, repr(r.params)), (r, []))[1].append(s)
            i = j
        drops: list[tuple[str, Transition]] = []
        for rule, items in groups.values():
            trs = self.run_rule(rule, items)
            if rule.kind == "sudden_drop":
                drops.extend((t.key.split("/", 1)[0], t) for t in trs)
        return drops

    def event_rules(self, events: Sequence[Event], contexts: Mapping[str, DeviceContext]) -> None:
        """Evaluate device-event rules per device."""
        by_device: dict[str, list[Event]] = {}
        for e in events:
            by_device.setdefault(e[0], []).append(e)
        groups: dict[tuple[str, str], tuple[ResolvedRule, list[Samples]]] = {}
        for device, rows in by_device.items():
            ctx = contexts.get(device)
            for r in self.engine.resolved(ctx) if ctx else []:
                if KINDS[r.kind].input == "events":
                    rows_ = EventRows.build(device, rows)
                    groups.setdefault((r.rule_id, repr(r.params)), (r, []))[1].append(rows_)
        for rule, items in groups.values():
            self.run_rule(rule, items)

    def unit_rules(
        self,
        events: Sequence[Event],
        drops: Sequence[tuple[str, Transition]],
        contexts: Mapping[str, DeviceContext],
    ) -> None:
        """Evaluate unit rules over the unit's events plus synthetic pressure-drop events."""
        per: dict[tuple[str, str], tuple[ResolvedRule, list[Event]]] = {}
        for device, type_, ts, seq in events:
            ctx = contexts.get(device)
            if ctx is None or not ctx.unit_id:
                continue
            for r in self.engine.unit_rules(ctx.unit_id):
                if self.engine.rules.get(r.rule_id).applies_to.matches(ctx):
                    per.setdefault((r.rule_id, ctx.unit_id), (r, []))[1].append(
                        (device, type_, ts, seq)
                    )
        for device, tr in drops:
            ctx = contexts.get(device)
            if ctx is None or not ctx.unit_id or tr.kind == "update":
                continue
            synthetic = "pressure_drop" if tr.kind == "open" else "pressure_restored"
            for r in self.engine.unit_rules(ctx.unit_id):
                if r.kind == "correlation" and set(_types(r)) & SYNTHETIC_EVENTS:
                    per.setdefault((r.rule_id, ctx.unit_id), (r, []))[1].append(
                        (device, synthetic, tr.ts, -1)
                    )
        by_rule: dict[str, tuple[ResolvedRule, list[Samples]]] = {}
        for (rule_id, unit_id), (rule, rows) in per.items():
            by_rule.setdefault(rule_id + repr(rule.params), (rule, []))[1].append(
                EventRows.build(f"unit:{unit_id}", rows)
            )
        for rule, items in by_rule.values():
            self.run_rule(rule, items)

    def run_rule(self, rule: ResolvedRule, items: Sequence[Samples]) -> list[Transition]:
        """Evaluate one rule over its keys of the batch, isolating its failure."""
        spec = KINDS[rule.kind]
        try:
            raw = self.store.load(rule.rule_id, [s.key for s in items])
            states = {
                s.key: KeyState.from_json(spec.state, raw[s.key])
                if s.key in raw
                else KeyState.fresh(spec.state())
                for s in items
            }
            out = self._evaluate(rule, items, states)
        except Exception as exc:  # one failing rule never stops the others (STYLE: Traccar)
            log.exception("rule %s failed on batch %s", rule.rule_id, self.batch_id)
            self.stats.errors.append(f"{rule.rule_id}: {exc}")
            return []
        self.to_save.setdefault(rule.rule_id, {}).update(states)
        return out

    def _evaluate(
        self, rule: ResolvedRule, items: Sequence[Samples], states: dict[str, KeyState]
    ) -> list[Transition]:
        cfg, spec = self.cfg, KINDS[rule.kind]
        on_time: list[tuple[KeyState, Samples]] = []
        out: list[Transition] = []
        for s in items:
            ks = states[s.key]
            ok, late, too_late = _masks(s.ts, ks.state.last_ts, cfg.late_window_ms)
            if too_late.any():
                bad = s.take(too_late)
                devices = (
                    bad.device.tolist()
                    if isinstance(bad, EventRows)
                    else [s.key.split("/", 1)[0]] * len(bad)
                )
                rows = list(zip(devices, bad.ts.tolist(), bad.seq.tolist(), strict=True))
                self.store.too_late(rule.rule_id, s.key, rows, self.batch_id)
                self.stats.too_late += len(rows)
            if late.any():
                out.extend(self._replay(rule, ks, s.key, int(s.ts[late].min())))
            elif ok.any():
                on_time.append((ks, s.take(ok)))
        for ks, _ in on_time:
            ks.maybe_checkpoint(every_ms=cfg.checkpoint_every_ms)
        if rule.kind == "threshold" and on_time:
            many = ManySeries.from_series([s for _, s in on_time])  # type: ignore[misc]
            cols = ThresholdColumns.from_states([ks.state for ks, _ in on_time])  # type: ignore[misc]
            new_cols, trs = evaluate_columns(many, cols, rule)
            per_key: dict[str, list[Transition]] = {}
            for t in trs:
                per_key.setdefault(t.key, []).append(t)
            for (ks, s), st in zip(on_time, new_cols.to_states(), strict=True):
                ks.state = st
                out.extend(self._emit(rule, ks, s.key, per_key.get(s.key, [])))
        else:
            for ks, s in on_time:
                arg = s.series() if isinstance(s, EventRows) else s
                ks.state, trs = spec.evaluate(arg, ks.state, rule)
                out.extend(self._emit(rule, ks, s.key, trs))
        for ks in states.values():
            ks.prune(late_window_ms=cfg.late_window_ms)
        return out

    def _replay(self, rule: ResolvedRule, ks: KeyState, key: str, late_ts: int) -> list[Transition]:
        """Re-evaluate a key from its checkpoint before ``late_ts``; reconcile its hazards."""
        ck = ks.checkpoint_before(late_ts)
        if ck is None:  # no checkpoint old enough: the state cannot be rebuilt, so not evaluated
            log.warning("rule %s key %s: no checkpoint before %s", rule.rule_id, key, late_ts)
            return []
        ck_ts, ck_state = ck
        self.stats.replays += 1
        spec = KINDS[rule.kind]
        if spec.input == "series":
            state, trs = spec.evaluate(
                self.history.series(rule_id=rule.rule_id, key=key, after_ts=ck_ts), ck_state, rule
            )
        else:
            rows = self.history.events(rule_id=rule.rule_id, key=key, after_ts=ck_ts)
            state, trs = spec.evaluate(rows.series(), ck_state, rule)
        retract, apply = diff_transitions([e for e in ks.emitted if e.ts > ck_ts], trs)
        for e in retract:
            self.ops.append(_op("retract", rule, key, _transition(key, rule, e)))
        ks.emitted = [e for e in ks.emitted if e.ts <= ck_ts]
        ks.checkpoints = [c for c in ks.checkpoints if c[0] <= ck_ts]
        ks.state = state
        return self._emit(rule, ks, key, trs, apply_from=len(trs) - len(apply))

    def _emit(
        self,
        rule: ResolvedRule,
        ks: KeyState,
        key: str,
        trs: Sequence[Transition],
        apply_from: int = 0,
    ) -> list[Transition]:
        """Remember transitions, watch flapping, and queue the hazard operations."""
        cfg = self.cfg
        ks.record(trs)
        for i, t in enumerate(trs):
            if i < apply_from:
                continue
            ks.flap, notices = detect_flapping(
                [t], ks.flap, count=cfg.flap_count, window_ms=cfg.flap_window_ms
            )
            self.ops.append(_op("apply", rule, key, t, notices[-1].flapping if notices else None))
        self.stats.transitions += len(trs) - apply_from
        return list(trs[apply_from:])


def _types(rule: ResolvedRule) -> tuple[str, ...]:
    p = rule.params
    return (
        tuple(getattr(p, "first", ()))
        + tuple(getattr(p, "second", ()))
        + tuple(getattr(p, "clear", ()))
    )


def _transition(key: str, rule: ResolvedRule, e: Emitted) -> Transition:
    return Transition(key, rule.rule_id, e.ts, e.kind, Severity(e.severity))  # type: ignore[arg-type]
