"""Dates: extinguisher scrap age, service due, monthly check overdue — given today as data.

``check`` picks what the rule judges for each device of a fleet snapshot (GB 50444, GA 95):

- ``scrap``: due on ``manufactured_on + scrap_years[agent]``; the hazard opens ON that day;
- ``service``: first due ``service_first_years[agent]`` after manufacture, then every
  ``service_every_years[agent]`` after the last service; opens ON the due day;
- ``monthly_check``: the visual check is due ``check_every_months`` (or ``check_every_days``
  when set, e.g. 15 for half-monthly in high-risk places) after the last check (or after
  installation, or manufacture); the hazard opens the day AFTER, when it is overdue.

Calendar arithmetic: adding years or months keeps the day of the month and falls back to the
month's last day when it has none, so an extinguisher made on 29 Feb 2016 is due for scrap on
28 Feb 2026: a day early rather than a day late. A device whose agent has no entry, or whose
dates are unknown (NaT), is not judged. Hazards clear when the device no longer qualifies
(replaced, serviced, checked) or leaves the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from rules.exceptions import RulesError
from rules.models import (
    ParamsBase,
    Resolved,
    RuleState,
    StrArray,
    Transition,
    cst_day_start,
)

Days = npt.NDArray[np.datetime64]
_NAT = np.datetime64("NaT", "D")


@dataclass(frozen=True)
class DatesParams(ParamsBase):
    """Params of a dates rule; year tables are keyed by extinguishing agent."""

    check: Literal["scrap", "service", "monthly_check"]
    scrap_years: Mapping[str, int] = field(default_factory=dict)
    service_first_years: Mapping[str, int] = field(default_factory=dict)
    service_every_years: Mapping[str, int] = field(default_factory=dict)
    check_every_months: int = 1
    check_every_days: int = 0

    def problems(self) -> list[tuple[str, str]]:
        """Return missing tables for the chosen check and non-positive intervals."""
        out: list[tuple[str, str]] = []
        if self.check == "scrap" and not self.scrap_years:
            out.append(("scrap_years", "is required for check scrap"))
        if self.check == "service" and not (self.service_first_years and self.service_every_years):
            out.append(("service_every_years", "service needs first and every year tables"))
        for name in ("scrap_years", "service_first_years", "service_every_years"):
            table: Mapping[str, int] = getattr(self, name)
            out.extend((name, f"{k}: must be more than zero") for k, v in table.items() if v <= 0)
        if self.check_every_months < 1 and self.check_every_days < 1:
            out.append(("check_every_months", "must be 1 or more"))
        return out


@dataclass(frozen=True, slots=True, eq=False)
class DatesSnapshot:
    """The devices a dates rule watches as of ``today`` (China Standard Time date)."""

    today: np.datetime64
    device: StrArray
    agent: StrArray
    manufactured_on: Days
    installed_on: Days
    last_service: Days
    last_check: Days

    @classmethod
    def build(
        cls,
        *,
        today: str | date,
        device: Sequence[str],
        agent: Sequence[str | None],
        manufactured_on: Sequence[str | None],
        installed_on: Sequence[str | None] | None = None,
        last_service: Sequence[str | None] | None = None,
        last_check: Sequence[str | None] | None = None,
    ) -> DatesSnapshot:
        """Build a snapshot from ISO dates (None for unknown)."""
        n = len(device)

        def days(values: Sequence[str | None] | None) -> Days:
            if values is None:
                return np.full(n, _NAT)
            if len(values) != n:
                raise RulesError("dates snapshot arrays must have one entry per device")
            return np.array([_NAT if v is None else np.datetime64(v, "D") for v in values])

        if len(agent) != n:
            raise RulesError("dates snapshot arrays must have one entry per device")
        return cls(
            np.datetime64(today if isinstance(today, str) else today.isoformat(), "D"),
            np.asarray(list(device), dtype=object),
            np.asarray(["" if a is None else a for a in agent], dtype=object),
            days(manufactured_on),
            days(installed_on),
            days(last_service),
            days(last_check),
        )


@dataclass(frozen=True, slots=True)
class DatesState(RuleState):
    """Devices whose hazard is open; ``last_ts`` is the start of the last day judged."""

    open_devices: frozenset[str] = frozenset()


def add_months(d: Days, months: npt.ArrayLike) -> Days:
    """Add whole months to dates, falling back to the month's last day (29 Feb + 12 → 28 Feb)."""
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months, np.int64).astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out: Days = target.astype("datetime64[D]") + np.minimum(day, length - 1).astype(
        "timedelta64[D]"
    )
    return out


def _per_agent(agent: StrArray, table: Mapping[str, int]) -> npt.NDArray[np.int64]:
    """Return ``table[agent]`` per device, -1 where the agent has no entry."""
    names, inverse = np.unique(agent.astype(str), return_inverse=True)
    values = np.array([table.get(str(a), -1) for a in names], np.int64)
    return values[inverse]


def due_dates(snap: DatesSnapshot, p: DatesParams) -> tuple[Days, bool]:
    """Return each device's due date (NaT: not judged) and whether ``today == due`` counts."""
    if p.check == "scrap":
        years = _per_agent(snap.agent, p.scrap_years)
        due = add_months(snap.manufactured_on, 12 * years)
        return np.where(years > 0, due, _NAT), True
    if p.check == "service":
        first = _per_agent(snap.agent, p.service_first_years)
        every = _per_agent(snap.agent, p.service_every_years)
        never = np.isnat(snap.last_service)
        base = np.where(never, snap.manufactured_on, snap.last_service)
        due = add_months(base, 12 * np.where(never, first, every))
        return np.where((first > 0) & (every > 0), due, _NAT), True
    base = snap.last_check
    for fallback in (snap.installed_on, snap.manufactured_on):
        base = np.where(np.isnat(base), fallback, base)
    if p.check_every_days > 0:
        return cast(Days, base + np.timedelta64(p.check_every_days, "D")), False
    return add_months(base, np.full(base.shape, p.check_every_months)), False


def evaluate(
    snap: DatesSnapshot, state: DatesState, rule: Resolved[DatesParams]
) -> tuple[DatesState, list[Transition]]:
    """Judge every device of the snapshot on ``snap.today``; return new state and transitions."""
    ts = cst_day_start(int(snap.today.astype(np.int64)))
    if state.last_ts is not None and ts < state.last_ts:
        raise RulesError(f"dates snapshot for {snap.today} is before the last day judged")
    due, on_the_day = due_dates(snap, rule.params)
    judged = ~np.isnat(due)
    hit = judged & ((due <= snap.today) if on_the_day else (due < snap.today))
    hit_ids = snap.device[hit].tolist()
    due_of = dict(zip(hit_ids, due[hit].astype(str).tolist(), strict=True))
    now_open = frozenset(hit_ids)
    out = [
        Transition(
            d,
            rule.rule_id,
            ts,
            "open",
            rule.severity,
            None,
            {"check": rule.params.check, "due_on": due_of[d]},
        )
        for d in sorted(now_open - state.open_devices)
    ]
    out.extend(
        Transition(d, rule.rule_id, ts, "clear", rule.severity, None, {"check": rule.params.check})
        for d in sorted(state.open_devices - now_open)
    )
    return DatesState(ts, now_open), out
