"""Registry of rule kinds: what each takes, what state it keeps, what its hazards are about.

Every kind is a module with a frozen-dataclass ``Params``, a frozen ``State`` (its default is
the empty state) and a pure ``evaluate(input, state, rule) -> (state, transitions)``. The
engine looks kinds up here by the ``kind`` of a rule; the rules file is validated against
``params``. ``input`` says what the engine must hand over:

- ``series``: one key's readings (``SeriesArrays``), key ``<device_id>/<metric>``;
- ``events``: one device's events, or for unit kinds all events of the unit's devices
  (``EventSeries``), key ``<device_id>`` or ``unit:<unit_id>``;
- ``silence`` / ``dates`` / ``patrol``: a snapshot of a fleet or a day, judged at once;
- ``reports``: a batch's new hazard reports, located (``LocatedReport``), key ``report:<id>``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from rules.kinds import (
    correlation,
    dates,
    device_event,
    false_alarms,
    patrol,
    report,
    silence,
    sudden_drop,
    threshold,
)
from rules.models import P, ParamsBase, RuleState, Transition

Subject = Literal["device", "unit", "grid", "report"]
Input = Literal["series", "events", "silence", "dates", "patrol", "reports"]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One rule kind; ``primary`` is the param a registry ``threshold.<rule_id>`` cell sets."""

    name: str
    params: type[ParamsBase]
    state: type[RuleState]
    subject: Subject
    input: Input
    evaluate: Callable[..., tuple[Any, list[Transition]]]
    primary: str | None = None


KINDS: Final[Mapping[str, KindSpec]] = {
    spec.name: spec
    for spec in (
        KindSpec(
            "threshold",
            threshold.ThresholdParams,
            threshold.ThresholdState,
            "device",
            "series",
            threshold.evaluate,
            "limit",
        ),
        KindSpec(
            "sudden_drop",
            sudden_drop.SuddenDropParams,
            sudden_drop.SuddenDropState,
            "device",
            "series",
            sudden_drop.evaluate,
            "drop_pct",
        ),
        KindSpec(
            "silence",
            silence.SilenceParams,
            silence.SilenceState,
            "device",
            "silence",
            silence.evaluate,
            "missed",
        ),
        KindSpec(
            "device_event",
            device_event.DeviceEventParams,
            device_event.DeviceEventState,
            "device",
            "events",
            device_event.evaluate,
        ),
        KindSpec(
            "correlation",
            correlation.CorrelationParams,
            correlation.CorrelationState,
            "unit",
            "events",
            correlation.evaluate,
            "window_s",
        ),
        KindSpec("dates", dates.DatesParams, dates.DatesState, "device", "dates", dates.evaluate),
        KindSpec(
            "false_alarms",
            false_alarms.FalseAlarmParams,
            false_alarms.FalseAlarmState,
            "unit",
            "events",
            false_alarms.evaluate,
            "max_per_day",
        ),
        KindSpec(
            "patrol_compliance",
            patrol.PatrolParams,
            patrol.PatrolState,
            "grid",
            "patrol",
            patrol.evaluate,
            "min_patrols",
        ),
        KindSpec(
            "report", report.ReportParams, report.ReportState, "report", "reports", report.evaluate
        ),
    )
}


def get_kind(name: str) -> KindSpec:
    """Return the kind called ``name`` or raise KeyError."""
    return KINDS[name]


# ---- params validation --------------------------------------------------------------------

Checked = tuple[Any, str | None]  # (converted value, None) or (None, what it must be)


def _number(value: Any) -> Checked:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "must be a number"
    if not np.isfinite(value):
        return None, "must be a finite number"
    return float(value), None


def _integer(value: Any) -> Checked:
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "must be an integer"
    return value, None


def _boolean(value: Any) -> Checked:
    return (value, None) if isinstance(value, bool) else (None, "must be true or false")


def _text(value: Any) -> Checked:
    return (value, None) if isinstance(value, str) and value else (None, "must be a text")


def _texts(value: Any) -> Checked:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return None, "must be a list of texts"
    return tuple(value), None


_SCALARS: Final[Mapping[object, Callable[[Any], Checked]]] = {
    float: _number,
    int: _integer,
    bool: _boolean,
    str: _text,
}


def check_value(value: Any, hint: Any) -> Checked:
    """Convert one YAML value to the type ``hint`` or say what it must be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # only ``X | None`` is used in params
        if value is None:
            return None, None
        return check_value(value, next(a for a in args if a is not type(None)))
    if origin is Literal:
        return (value, None) if value in args else (None, "must be one of " + ", ".join(args))
    if origin in (dict, Mapping):
        return _mapping(value, args[1])
    return _texts(value) if origin is tuple else _SCALARS[hint](value)


def _mapping(value: Any, item_hint: Any) -> Checked:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None, "must be a mapping"
    out: dict[str, Any] = {}
    for key, item in value.items():
        converted, msg = check_value(item, item_hint)
        if msg is not None:
            return None, f"{key}: {msg}"
        out[key] = converted
    return out, None


def parse_params(cls: type[P], raw: Mapping[str, Any]) -> tuple[P | None, list[tuple[str, str]]]:
    """Build ``cls`` from YAML params, returning every (param, message) problem found."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    problems = [(k, "unknown parameter") for k in raw if k not in fields]
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        if name not in raw:
            required = fld.default is dataclasses.MISSING
            if required and fld.default_factory is dataclasses.MISSING:
                problems.append((name, "is required"))
            continue
        converted, msg = check_value(raw[name], hints[name])
        if msg is None:
            values[name] = converted
        else:
            problems.append((name, msg))
    if problems:
        return None, problems
    params = cls(**values)
    cross = params.problems()
    return (None, cross) if cross else (params, [])
