"""Canonical JSON telemetry (CONTRACT §1): one sample or a batch of samples.

```
{"ts": "2026-11-26T06:30:00Z", "seq": 1042, "values": {"pressure_mpa": 0.31}}
{"device_id": "...", "samples": [{"ts": 1764138600000, "seq": 1043, "values": {...}}, ...]}
```

A bad value rejects only that value; a bad ``ts`` or ``seq`` rejects its whole sample. This runs
on the ingest hot path, so the per-value loop avoids anything it does not need.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devices.codecs._json import (
    PartError,
    decode_parts,
    part_seq,
    part_time,
    reject,
    show,
    where,
)
from devices.metrics import KNOWN_METRICS, METRIC_NAME, check_value
from devices.models import Decoded, DecodePolicy, PartRejection, Reading, Record

_CONTAINER = "samples"


def decode(raw: bytes, *, device_id: str, received_at: datetime, policy: DecodePolicy) -> Decoded:
    """Decode a telemetry payload into readings and the parts it rejected."""
    return decode_parts(
        raw,
        device_id=device_id,
        received_at=received_at,
        policy=policy,
        container=_CONTAINER,
        single_key="values",
        part=_sample,
    )


def _sample(
    sample: Any,
    index: int | None,
    out: Decoded,
    *,
    device_id: str,
    received_at: datetime,
    policy: DecodePolicy,
) -> None:
    rejections = out.rejections
    if not isinstance(sample, dict):
        reject(rejections, _CONTAINER, index, PartError("", "wrong_type", "sample is no object"))
        return
    try:
        ts = part_time(sample, received_at=received_at, policy=policy)
        seq = part_seq(sample)
        values = _values(sample)
    except PartError as err:
        reject(rejections, _CONTAINER, index, err)
        return
    records: list[Record] = out.records
    for metric, value in values.items():
        known = metric in KNOWN_METRICS
        if not known and METRIC_NAME.fullmatch(metric) is None:
            rejections.append(
                PartRejection(
                    where(_CONTAINER, index, "values"),
                    "bad_metric_name",
                    f"{metric[:80]!r} is not [A-Za-z][A-Za-z0-9_.-]{{0,63}}",
                )
            )
            continue
        reason = check_value(metric, value)
        if reason is not None:
            rejections.append(
                PartRejection(
                    where(_CONTAINER, index, f"values.{metric}"),
                    reason,
                    f"{metric}={show(value)}",
                )
            )
            continue
        if not known:
            out.unknown_metrics += 1
        records.append(Reading(device_id, ts, seq, metric, float(value)))


def _values(sample: dict[str, Any]) -> dict[str, Any]:
    values = sample.get("values")
    if values is None:
        raise PartError("values", "missing_field", "values is required")
    if not isinstance(values, dict):
        raise PartError("values", "wrong_type", "values must be an object")
    if not values:
        raise PartError("values", "no_values", "values is empty")
    return values
