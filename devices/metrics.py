"""Known metrics, their units and plausible ranges (CONTRACT §1, telemetry)."""

from __future__ import annotations

import math
import re
from typing import Final

from msgspec import Struct


class MetricSpec(Struct, frozen=True):
    """One known metric: unit and the closed range a real device can report."""

    name: str
    unit: str
    low: float
    high: float


KNOWN_METRICS: Final[dict[str, MetricSpec]] = {
    spec.name: spec
    for spec in (
        MetricSpec("pressure_mpa", "MPa", 0.0, 10.0),
        MetricSpec("battery_pct", "%", 0.0, 100.0),
        MetricSpec("battery_v", "V", 0.0, 15.0),
        MetricSpec("temp_c", "°C", -40.0, 125.0),
        MetricSpec("smoke_pct", "%/m", 0.0, 100.0),
        MetricSpec("level_m", "m", 0.0, 100.0),
        MetricSpec("rsrp_dbm", "dBm", -160.0, 0.0),
    )
}

# Unknown metric names are kept and counted (CONTRACT §1), so vendor spellings pass: camelCase,
# dotted, dashed (``signalStrength``, ``pm2.5``, ``co2-ppm``). They must still be identifiers a
# query string and a JSON key carry unchanged: ASCII, no spaces or control characters.
METRIC_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def check_value(metric: str, value: object) -> str | None:
    """Return why ``value`` is unacceptable for ``metric``, or None when it is fine."""
    spec = KNOWN_METRICS.get(metric)
    # Fast path for the common case, a plain number of a known metric inside its range (NaN
    # fails the comparison and infinity lies outside every range, so both take the long way).
    if (
        spec is not None
        and (type(value) is float or type(value) is int)
        and spec.low <= value <= spec.high
    ):
        return None
    return _why_not(spec, value)


def _why_not(spec: MetricSpec | None, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not_a_number"
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits: no float can hold it
        return "out_of_range"
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "infinite"
    if spec is not None and not spec.low <= number <= spec.high:
        return "out_of_range"
    return None
