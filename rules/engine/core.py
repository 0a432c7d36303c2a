"""The rules engine core: a committed batch in, hazard operations and durable state out.

The same code serves the live rules role and ``firegrid rules replay``: only the
``StateStore``, ``History`` and ``HazardSink`` behind it differ (database, or memory).

Per batch: readings are grouped per ``device/metric`` and events per device and per unit, in
device-time order; each device's rules come from the rule set and its registry context (cached
per device, re-resolved when the context or the rule set changes). Each rule evaluates all its
keys of the batch at once (threshold in one ``evaluate_columns`` call), with each key's durable
state. Late data follows ``rules.models``: a sample at or behind a key's last evaluated time, within
``late_window_ms`` makes that key replay from its last checkpoint over the stored series, and the
replay's transitions are reconciled with what was emitted
(``rules.engine.keystate.diff_transitions``);
an older one is ``too_late``: recorded and counted, never evaluated. A rule that raises is
logged, counted and undone for the batch (its state does not move, its queued hazard operations
are dropped); the others go on.

Speed: resolution is cached per registry signature (devices differing only in ID share one
resolution unless an override names them); the batch itself is evaluated by
``rules.engine.batch_run.BatchRun`` over flat arrays, and state comes through
``rules.engine.state``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from hazards.lifecycle import HazardSink
from rules.definitions import ResolvedRule, RuleSet
from rules.engine.batch_run import BatchRun
from rules.engine.evaluate import hazard_op
from rules.engine.keystate import KeyState
from rules.engine.resolution import Resolution
from rules.engine.types import BatchData, BatchStats, EngineConfig, History, StateStore
from rules.kinds import KINDS
from rules.kinds.report import LocatedReport
from rules.models import DeviceContext, Transition


class Engine:
    """Evaluate batches and fleet snapshots with a rule set; no I/O of its own."""

    def __init__(self, rules: RuleSet, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.rules = rules
        self._devices: dict[str, tuple[DeviceContext, Resolution]] = {}
        self._signatures: dict[tuple[object, ...], Resolution] = {}
        self._units: dict[str, list[ResolvedRule]] = {}
        self._reports: list[ResolvedRule] | None = None
        self._scoped = self._scoped_ids(rules)

    @staticmethod
    def _scoped_ids(rules: RuleSet) -> dict[str, frozenset[str]]:
        return {
            scope: frozenset(o.match for o in rules.overrides if o.scope == scope)
            for scope in ("unit", "device")
        }

    def set_rules(self, rules: RuleSet) -> None:
        """Use a new rule set from the next batch on; cached resolutions are dropped."""
        self.rules = rules
        self._devices.clear()
        self._signatures.clear()
        self._units.clear()
        self._reports = None
        self._scoped = self._scoped_ids(rules)

    def resolution(self, ctx: DeviceContext) -> Resolution:
        """Return a device's resolved rules, cached per registry signature."""
        hit = self._devices.get(ctx.device_id)
        if hit is not None and hit[0] == ctx:
            return hit[1]
        # Resolution reads the device's ID and unit only through overrides naming them.
        sig = (
            ctx.kind,
            ctx.model,
            ctx.hydrant_class,
            ctx.agent,
            tuple(sorted(ctx.thresholds.items())),
            ctx.unit_id if ctx.unit_id in self._scoped["unit"] else None,
            ctx.device_id if ctx.device_id in self._scoped["device"] else None,
        )
        res = self._signatures.get(sig)
        if res is None:
            res = Resolution(self.rules.resolve(ctx))
            self._signatures[sig] = res
        self._devices[ctx.device_id] = (ctx, res)
        return res

    def context(self, device_id: str) -> DeviceContext | None:
        """Return the registry context the device's cached rules were resolved for."""
        hit = self._devices.get(device_id)
        return None if hit is None else hit[0]

    def resolved(self, ctx: DeviceContext) -> list[ResolvedRule]:
        """Return a device's rules, cached until its registry context or the rules change."""
        return self.resolution(ctx).rules

    def unit_rules(self, unit_id: str) -> list[ResolvedRule]:
        """Return a unit's rules (correlation, false alarms), cached until the rules change."""
        if unit_id not in self._units:
            self._units[unit_id] = self.rules.resolve_unit(unit_id)
        return self._units[unit_id]

    def report_rules(self) -> list[ResolvedRule]:
        """Return the rules raising hazards from workers' reports, cached until the rules change."""
        if self._reports is None:
            self._reports = self.rules.of_subject("report")
        return self._reports

    # ---- batches ------------------------------------------------------------------------

    def run_batch(
        self,
        batch: BatchData,
        *,
        contexts: Mapping[str, DeviceContext],
        store: StateStore,
        history: History,
        sink: HazardSink,
        reports: Sequence[LocatedReport] = (),
    ) -> BatchStats:
        """Evaluate one batch; hand hazard operations to ``sink`` and states to ``store``.

        ``reports`` are the workers' hazard reports the batch stored, already located.
        """
        columns = batch.reading_columns()
        stats = BatchStats(len(columns), len(batch.events))
        run = BatchRun(self, batch.batch_id, store, history, stats)
        series_out = run.series_rules(columns, contexts)
        run.event_rules(batch.events, contexts)
        run.unit_rules(batch.events, series_out, contexts)
        if reports:
            run.report_rules(reports)
        sink.apply(run.ops)
        store.save(run.to_save)
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
        keep_ms: int = 0,
    ) -> list[Transition]:
        """Judge a fleet snapshot (silence, dates, patrol day) with the state kept under ``key``.

        ``at`` is the snapshot's time as the kind stamps it; with ``once`` a time already
        judged is skipped (a day is judged once). A clock set back (a test, a replay) judges
        the snapshot afresh against the open set instead of refusing it. ``keep_ms`` > 0 keeps
        the state after each snapshot as a checkpoint for that long (and the newest older one),
        the empty state first, so the snapshots can be judged again (``rules.rejudge``).
        """
        spec = KINDS[rule.kind]
        ks = store.load(rule.rule_id, spec.state, [key]).get(key)
        if ks is None:
            ks = KeyState.fresh(spec.state()) if keep_ms else KeyState(spec.state())
        last = ks.state.last_ts
        if last is not None and (at <= last if once else at < last):
            if once:
                return []
            ks.state = dataclasses.replace(ks.state, last_ts=None)
        state, trs = spec.evaluate(snapshot, ks.state, rule)
        ks.state = state
        if keep_ms:
            ks.maybe_checkpoint(every_ms=1)
            ks.prune(late_window_ms=keep_ms)
        sink.apply([hazard_op("apply", rule, t.key, t) for t in trs])
        store.save({rule.rule_id: {key: ks}})
        return trs
