"""One batch's evaluation: a batch's readings, events and reports grouped per rule.

``Engine.run_batch`` makes one ``BatchRun`` per batch; it collects the hazard operations and the
states to save for the batch's single transaction. Series rules evaluate all their keys at once:
lateness is judged with numpy over every sample, threshold goes through ``evaluate_columns``,
sudden drop through ``rules.engine.columns.drop_many``; only late keys (a checkpoint replay) and
event keys are handled one by one. How one rule is evaluated over its keys (state, late data,
replay, emits, failure isolation) is ``rules.engine.evaluate.RuleEvaluator``, which this extends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rules.definitions import ResolvedRule
from rules.engine.columns import take_rows
from rules.engine.evaluate import RuleEvaluator, hazard_op
from rules.engine.synthetic import SYNTHETIC, wants_synthetic
from rules.engine.types import Event, EventRows, ReadingColumns, Samples
from rules.kinds import KINDS
from rules.kinds.report import LocatedReport, ReportState
from rules.models import DeviceContext, ManySeries, Transition


class BatchRun(RuleEvaluator):
    """One batch's evaluation: collects operations and states for one transaction."""

    def series_rules(
        self, readings: ReadingColumns, contexts: Mapping[str, DeviceContext]
    ) -> list[tuple[str, Transition]]:
        """Evaluate the readings; return (device, transition) of the sudden-drop rules."""
        n = len(readings)
        if not n:
            return []
        devices, metrics = readings.device, readings.metric
        starts = [
            i
            for i in range(n)
            if i == 0 or devices[i] != devices[i - 1] or metrics[i] != metrics[i - 1]
        ]
        keys = tuple(f"{devices[i]}/{metrics[i]}" for i in starts)
        offsets = np.array([*starts, n], np.int64)
        every = ManySeries(keys, offsets, readings.ts, readings.value, readings.seq)
        groups: dict[str, tuple[ResolvedRule, list[int]]] = {}
        for k, i in enumerate(starts):
            ctx = contexts.get(devices[i])
            if ctx is None:
                continue
            for rule, gkey in self.engine.resolution(ctx).series(metrics[i]):
                groups.setdefault(gkey, (rule, []))[1].append(k)
        drops: list[tuple[str, Transition]] = []
        for rule, ks in groups.values():
            many = every if len(ks) == len(keys) else take_rows(every, ks)
            trs = self.run_series(rule, many)
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
            synthetic = SYNTHETIC[tr.kind]
            for r in self.engine.unit_rules(ctx.unit_id):
                if wants_synthetic(r):
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

    def report_rules(self, reports: Sequence[LocatedReport]) -> None:
        """Open a hazard per report: no state, no lateness (a report is news whenever it lands)."""
        for rule in self.engine.report_rules():
            try:
                _, trs = KINDS[rule.kind].evaluate(reports, ReportState(), rule)
            except Exception as exc:  # one failing rule never stops the others (STYLE: Traccar)
                self._failed(rule, [], exc, self._mark())
                continue
            self.ops.extend(hazard_op("apply", rule, t.key, t) for t in trs)
            self.stats.transitions += len(trs)
