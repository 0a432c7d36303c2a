"""Evaluating one rule over its keys of a batch: state, late data, checkpoint replay, emits.

``RuleEvaluator`` is the base of ``rules.engine.batch_run.BatchRun``: it loads each key's durable
state, splits late samples off (with numpy for series rules, all keys at once), replays a late
key from its checkpoint and reconciles what it had emitted, queues the hazard operations, and
undoes a rule that raises. It is apart from the batch run because it knows nothing of how a
batch's readings, events and reports are grouped per rule, only of one rule at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from hazards.lifecycle import HazardOp
from hazards.models import Severity
from rules.definitions import ResolvedRule
from rules.engine.columns import drop_many, key_slice, select
from rules.engine.keystate import Emitted, KeyState, diff_transitions
from rules.engine.resolution import RuleBook
from rules.engine.synthetic import SYNTHETIC, drop_rules, wants_synthetic
from rules.engine.types import BatchStats, Event, EventRows, History, Samples, StateStore
from rules.kinds import KINDS
from rules.kinds.sudden_drop import SuddenDropState
from rules.kinds.threshold import ThresholdColumns, ThresholdState, evaluate_columns
from rules.models import I64, BoolArray, ManySeries, Transition, detect_flapping

log = logging.getLogger(__name__)

_NEVER = np.iinfo(np.int64).min


def hazard_op(
    action: str, rule: ResolvedRule, key: str, tr: Transition, flap: bool | None = None
) -> HazardOp:
    """Make the sink operation that applies or retracts ``tr`` for ``rule`` on ``key``."""
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
    """Return (on time, late but within the window, too late) masks of a key's new samples.

    A sample AT the last evaluated time is late: the state (and a checkpoint taken from it)
    already covers that time, and a replay from such a checkpoint reads only what is after it.
    """
    if last_ts is None:
        return np.ones(ts.size, np.bool_), np.zeros(ts.size, np.bool_), np.zeros(ts.size, np.bool_)
    on_time = ts > last_ts
    too_late = ts < last_ts - window_ms
    return on_time, ~on_time & ~too_late, too_late


class RuleEvaluator:
    """One rule at a time over its keys of a batch: collects operations and states to save."""

    def __init__(
        self,
        engine: RuleBook,
        batch_id: int,
        store: StateStore,
        history: History,
        stats: BatchStats,
    ) -> None:
        self.engine, self.cfg = engine, engine.config
        self.batch_id, self.store, self.history, self.stats = batch_id, store, history, stats
        self.ops: list[HazardOp] = []
        self.to_save: dict[str, dict[str, KeyState]] = {}

    def _load(self, rule: ResolvedRule, keys: Sequence[str]) -> dict[str, KeyState]:
        spec = KINDS[rule.kind]
        got = self.store.load(rule.rule_id, spec.state, keys)
        return {k: got[k] if k in got else KeyState.fresh(spec.state()) for k in keys}

    def run_rule(self, rule: ResolvedRule, items: Sequence[Samples]) -> list[Transition]:
        """Evaluate one rule over its keys of the batch, one key at a time (events)."""
        keys = [s.key for s in items]
        mark = self._mark()
        try:
            states = self._load(rule, keys)
            out = self._evaluate(rule, items, states)
        except Exception as exc:  # one failing rule never stops the others (STYLE: Traccar)
            self._failed(rule, keys, exc, mark)
            return []
        self.to_save.setdefault(rule.rule_id, {}).update(states)
        return out

    def run_series(self, rule: ResolvedRule, many: ManySeries) -> list[Transition]:
        """Evaluate one series rule over all its keys of the batch at once."""
        mark = self._mark()
        try:
            states = self._load(rule, many.keys)
            out = self._evaluate_many(rule, many, [states[k] for k in many.keys])
        except Exception as exc:  # one failing rule never stops the others (STYLE: Traccar)
            self._failed(rule, many.keys, exc, mark)
            return []
        self.to_save.setdefault(rule.rule_id, {}).update(states)
        return out

    def _mark(self) -> tuple[int, int, int]:
        return len(self.ops), self.stats.transitions, self.stats.replays

    def _failed(
        self,
        rule: ResolvedRule,
        keys: Sequence[str],
        exc: Exception,
        mark: tuple[int, int, int] | None = None,
    ) -> None:
        """Undo a failed rule's batch: its state does not move and its queued operations go."""
        self.store.discard(rule.rule_id, keys)
        if mark is not None:
            # All or nothing: operations queued for keys evaluated before the failure would
            # otherwise apply while the state that remembers them is not saved.
            del self.ops[mark[0] :]
            self.stats.transitions, self.stats.replays = mark[1], mark[2]
        log.exception("rule %s failed on batch %s", rule.rule_id, self.batch_id)
        self.stats.errors.append(f"{rule.rule_id}: {exc}")
        self.stats.failed_rules.append(rule.rule_id)

    def _too_late(self, rule: ResolvedRule, key: str, rows: list[tuple[str, int, int]]) -> None:
        self.store.too_late(rule.rule_id, key, rows, self.batch_id)
        self.stats.too_late += len(rows)

    def _evaluate_many(
        self, rule: ResolvedRule, many: ManySeries, kss: Sequence[KeyState]
    ) -> list[Transition]:
        """Split late samples off with numpy, replay late keys, evaluate the rest columnar."""
        cfg, nkeys, every = self.cfg, len(many.keys), kss
        last = np.array(
            [_NEVER if ks.state.last_ts is None else ks.state.last_ts for ks in kss], np.int64
        )
        seg = np.repeat(np.arange(nkeys), np.diff(many.offsets))
        known = last[seg] != _NEVER
        edge = np.where(known, last[seg], 0)
        ok = ~known | (many.ts > edge)  # at the last evaluated time is late: see ``_masks``
        too_late = known & (many.ts < edge - cfg.late_window_ms)
        late = ~ok & ~too_late
        out: list[Transition] = []
        if too_late.any() or late.any():
            late_keys = np.bincount(seg[late], minlength=nkeys) > 0
            bad_keys = np.bincount(seg[too_late], minlength=nkeys) > 0
            for k in np.flatnonzero(late_keys | bad_keys).tolist():
                s = key_slice(many, k)
                rows_k = slice(int(many.offsets[k]), int(many.offsets[k + 1]))
                if bad_keys[k]:
                    bad = s.take(too_late[rows_k])
                    device = s.key.split("/", 1)[0]
                    self._too_late(
                        rule,
                        s.key,
                        [
                            (device, t, q)
                            for t, q in zip(bad.ts.tolist(), bad.seq.tolist(), strict=True)
                        ],
                    )
                if late_keys[k]:
                    out.extend(self._replay(rule, kss[k], s.key, int(s.ts[late[rows_k]].min())))
            on_time = ~late_keys & (np.bincount(seg[ok], minlength=nkeys) > 0)
            many = select(many, ok, on_time)
            kss = [ks for ks, keep in zip(kss, on_time.tolist(), strict=True) if keep]
        for ks in kss:
            ks.maybe_checkpoint(every_ms=cfg.checkpoint_every_ms)
        if kss:
            per_key = self._kind_many(rule, many, kss)
            for ks, key, trs in zip(kss, many.keys, per_key, strict=True):
                if trs:
                    out.extend(self._emit(rule, ks, key, trs))
        for ks in every:
            ks.prune(late_window_ms=cfg.late_window_ms)
        return out

    def _kind_many(
        self, rule: ResolvedRule, many: ManySeries, kss: Sequence[KeyState]
    ) -> list[list[Transition]]:
        """Evaluate the kind over many keys; set each key's state, return its transitions."""
        per_key: list[list[Transition]] = [[] for _ in kss]
        if rule.kind == "threshold":
            cols = ThresholdColumns.from_states([ks.state for ks in kss])  # type: ignore[misc]
            new_cols, trs = evaluate_columns(many, cols, rule)
            index = {k: i for i, k in enumerate(many.keys)} if trs else {}
            for t in trs:
                per_key[index[t.key]].append(t)
            states: Sequence[ThresholdState | SuddenDropState] = new_cols.to_states()
        elif rule.kind == "sudden_drop":
            states, per_key = drop_many(many, [ks.state for ks in kss], rule)  # type: ignore[misc]
        else:
            spec = KINDS[rule.kind]
            for i, ks in enumerate(kss):
                ks.state, per_key[i] = spec.evaluate(key_slice(many, i), ks.state, rule)
            states = [ks.state for ks in kss]  # type: ignore[misc]
        for ks, st in zip(kss, states, strict=True):
            ks.state = st
        return per_key

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
                self._too_late(
                    rule, s.key, list(zip(devices, bad.ts.tolist(), bad.seq.tolist(), strict=True))
                )
            if late.any():
                out.extend(self._replay(rule, ks, s.key, int(s.ts[late].min())))
            elif ok.any():
                on_time.append((ks, s.take(ok)))
        for ks, _ in on_time:
            ks.maybe_checkpoint(every_ms=cfg.checkpoint_every_ms)
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
            if key.startswith("unit:") and wants_synthetic(rule):
                rows = self._with_synthetic(rows, key[5:], ck_ts)
            state, trs = spec.evaluate(rows.series(), ck_state, rule)
        retract, apply = diff_transitions([e for e in ks.emitted if e.ts > ck_ts], trs)
        for e in retract:
            self.ops.append(hazard_op("retract", rule, key, _transition(key, rule, e)))
        ks.emitted = tuple(e for e in ks.emitted if e.ts <= ck_ts)
        ks.checkpoints = tuple(c for c in ks.checkpoints if c[0] <= ck_ts)
        ks.state = state
        return self._emit(rule, ks, key, trs, apply_from=len(trs) - len(apply))

    def _with_synthetic(self, rows: EventRows, unit_id: str, after_ts: int) -> EventRows:
        """Add the unit's pressure-drop events after ``after_ts`` to its stored events.

        They are not stored: they are the sudden-drop transitions of the unit's devices, which
        each key remembers (``emitted``, as reconciled by its own replays) back to its oldest
        checkpoint, i.e. about the late window: this batch's states first, then the store's.
        """
        devices = self.history.unit_devices(unit_id=unit_id)
        extra: list[Event] = []
        for rule_id, metric in drop_rules(self.engine.rules.rules):
            keys = [f"{d}/{metric}" for d in devices]
            saved = self.to_save.get(rule_id, {})
            got = self.store.load(rule_id, SuddenDropState, [k for k in keys if k not in saved])
            for device, k in zip(devices, keys, strict=True):
                ks = saved.get(k) or got.get(k)
                extra.extend(
                    (device, SYNTHETIC[e.kind], e.ts, -1)
                    for e in (ks.emitted if ks is not None else ())
                    if e.ts > after_ts and e.kind in SYNTHETIC
                )
        if not extra:
            return rows
        cols = (rows.device.tolist(), rows.type.tolist(), rows.ts.tolist(), rows.seq.tolist())
        return EventRows.build(rows.key, [*zip(*cols, strict=True), *extra])

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
            self.ops.append(
                hazard_op("apply", rule, key, t, notices[-1].flapping if notices else None)
            )
        self.stats.transitions += len(trs) - apply_from
        return list(trs[apply_from:])


def _transition(key: str, rule: ResolvedRule, e: Emitted) -> Transition:
    return Transition(key, rule.rule_id, e.ts, e.kind, Severity(e.severity))  # type: ignore[arg-type]
