"""Shanghai Mingkong wireless pressure terminal, protocol V3.0 (topic codec ``mk-pressure``).

Frame layout (all multi-byte fields big-endian; golden frames M1, M2 in device-frames.md):

```
offset size field
0      2    start A5 5A
2      1    command (00 = uplink)
3      2    total frame length = 39 + 2n
5      12   device code, ASCII
17     1    battery: bit7 0 = battery powered, bits 6-5 supply mode, bits 4-0 x 5 % = charge
18     1    signal, int8 dBm
19     2    record interval, s
21     2    record count n (<= 600)
23     1    device type (01 = pressure gauge, int16 in 0.001 MPa)
24     1    alarm state: bit1 high pressure, bit0 low pressure
25     2    low threshold
27     2    high threshold
29     2    current value
31     4    timestamp of the newest record, Unix seconds UTC
35     2n   cached records, oldest first
35+2n  2    CRC-16/MODBUS over bytes 0 .. 34+2n, stored high byte first
37+2n  2    end 55 AA
```

Record i of n was taken interval x (n - i - 1) seconds before the timestamp: the newest record
(i = n - 1) is at the timestamp. (The vendor note says "n - i", but its own sample M2 puts the
ten records at 01:40:42 ... 01:49:42 with the timestamp 01:49:42, which only n - i - 1 gives.)
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Final

from msgspec import Struct

from devices.exceptions import DecodeError
from devices.metrics import check_value
from devices.models import Decoded, DecodePolicy, PartRejection, Reading
from devices.timefmt import BadTime, apply_time_policy

START: Final = b"\xa5\x5a"
END: Final = b"\x55\xaa"
HEADER_SIZE: Final = 35
OVERHEAD: Final = HEADER_SIZE + 4  # header + CRC + end bytes
MAX_RECORDS: Final = 600
UPLINK: Final = 0x00
PRESSURE_GAUGE: Final = 0x01
UNITS_PER_MPA: Final = 1000  # records, thresholds and current are in 0.001 MPa

# command, length, code, battery, signal, interval, count, type, alarm, low, high, current, ts
_HEADER: Final = struct.Struct(">BH12sBbHHBBhhhI")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """Return the CRC-16/MODBUS (reflected 0x8005, init 0xFFFF) of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


class MkFrame(Struct, frozen=True):
    """One uplink frame, fields as the device sent them (pressures in 0.001 MPa units)."""

    device_code: str
    battery_powered: bool
    supply_mode: int  # bits 6-5 of the battery byte, 0..3; meaning not documented
    charge_pct: int  # bits 4-0 x 5, so 0..155: values above 100 are rejected when decoding
    signal_dbm: int
    interval_s: int
    device_type: int
    alarm_state: int
    low_threshold: int
    high_threshold: int
    current: int
    timestamp: datetime  # newest record, aware UTC, whole seconds
    records: tuple[int, ...]  # oldest first
    command: int = UPLINK

    @property
    def high_alarm(self) -> bool:
        """Whether the high-pressure alarm bit is set."""
        return bool(self.alarm_state & 0x02)

    @property
    def low_alarm(self) -> bool:
        """Whether the low-pressure alarm bit is set."""
        return bool(self.alarm_state & 0x01)

    def record_times(self) -> list[datetime]:
        """Return the time of each cached record, oldest first."""
        n = len(self.records)
        step = timedelta(seconds=self.interval_s)
        return [self.timestamp - step * (n - i - 1) for i in range(n)]


def parse_frame(raw: bytes) -> MkFrame:
    """Validate one frame (start, length, count, end, CRC) and return its fields."""
    if not raw:
        raise DecodeError("empty_payload", raw)
    if raw[:2] != START[: len(raw[:2])]:
        raise DecodeError("bad_frame", raw, detail=f"starts {raw[:2].hex()}, not a55a")
    if len(raw) < OVERHEAD:
        raise DecodeError("truncated_frame", raw, detail=f"{len(raw)} bytes < {OVERHEAD}")
    fields = _HEADER.unpack_from(raw, len(START))
    command, length, code, battery, signal, interval, count, device_type = fields[:8]
    alarm, low, high, current, stamp = fields[8:]
    if count > MAX_RECORDS:
        raise DecodeError("bad_frame", raw, detail=f"record count {count} > {MAX_RECORDS}")
    if length != OVERHEAD + 2 * count:
        raise DecodeError(
            "bad_frame", raw, detail=f"declared length {length} does not fit {count} records"
        )
    if len(raw) < length:
        raise DecodeError("truncated_frame", raw, detail=f"{len(raw)} of {length} bytes")
    if len(raw) > length:
        raise DecodeError("bad_frame", raw, detail=f"{len(raw) - length} bytes after the frame")
    if raw[-2:] != END:
        raise DecodeError("bad_frame", raw, detail=f"ends {raw[-2:].hex()}, not 55aa")
    stored = int.from_bytes(raw[-4:-2], "big")
    computed = crc16_modbus(raw[:-4])
    if stored != computed:
        raise DecodeError("bad_crc", raw, detail=f"stored {stored:04x}, computed {computed:04x}")
    try:
        device_code = code.rstrip(b"\x00 ").decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError(
            "bad_frame", raw, detail=f"device code {code.hex()} is not ASCII"
        ) from None
    records = struct.unpack_from(f">{count}h", raw, HEADER_SIZE)
    return MkFrame(
        device_code=device_code,
        battery_powered=not battery & 0x80,
        supply_mode=(battery >> 5) & 0x03,
        charge_pct=(battery & 0x1F) * 5,
        signal_dbm=signal,
        interval_s=interval,
        device_type=device_type,
        alarm_state=alarm,
        low_threshold=low,
        high_threshold=high,
        current=current,
        timestamp=_EPOCH + timedelta(seconds=stamp),
        records=records,
        command=command,
    )


def encode(frame: MkFrame) -> bytes:
    """Build the bytes of ``frame``, with its length and CRC (for simulators and tests)."""
    code = frame.device_code.encode("ascii")
    if len(code) > 12:
        raise ValueError(f"device code {frame.device_code!r} is longer than 12 bytes")
    if frame.charge_pct % 5 or not 0 <= frame.charge_pct <= 155:
        raise ValueError(f"charge {frame.charge_pct} % is not a multiple of 5 in 0..155")
    if len(frame.records) > MAX_RECORDS:
        raise ValueError(f"{len(frame.records)} records > {MAX_RECORDS}")
    battery = (0 if frame.battery_powered else 0x80) | (frame.supply_mode & 0x03) << 5
    battery |= frame.charge_pct // 5
    stamp = int((frame.timestamp - _EPOCH).total_seconds())
    count = len(frame.records)
    body = START + _HEADER.pack(
        frame.command,
        OVERHEAD + 2 * count,
        code.ljust(12, b"\x00"),
        battery,
        frame.signal_dbm,
        frame.interval_s,
        count,
        frame.device_type,
        frame.alarm_state,
        frame.low_threshold,
        frame.high_threshold,
        frame.current,
        stamp,
    )
    body += struct.pack(f">{count}h", *frame.records)
    return body + crc16_modbus(body).to_bytes(2, "big") + END


def decode(raw: bytes, *, device_id: str, received_at: datetime, policy: DecodePolicy) -> Decoded:
    """Decode a frame into pressure readings per cached record plus battery and signal."""
    frame = parse_frame(raw)
    if frame.device_code != device_id:
        raise DecodeError(
            "device_mismatch",
            raw,
            detail=f"frame says {frame.device_code!r}, topic says {device_id!r}",
        )
    if frame.command != UPLINK:
        raise DecodeError("unsupported_frame", raw, detail=f"command {frame.command:#04x}")
    if frame.device_type != PRESSURE_GAUGE:
        raise DecodeError("unsupported_frame", raw, detail=f"device type {frame.device_type}")
    out = Decoded()
    try:
        newest = apply_time_policy(frame.timestamp, received_at=received_at, policy=policy)
    except BadTime as exc:
        out.rejections.append(PartRejection("timestamp", exc.reason, exc.detail))
        return out
    # Shift every record by the same amount when the policy clamps a future timestamp, so the
    # series keeps its spacing instead of collapsing onto the receive time.
    step = timedelta(seconds=frame.interval_s)
    n = len(frame.records)
    if n == 0:
        # No cached records: the current value is the only pressure the frame carries.
        _add(
            out,
            device_id,
            newest,
            "pressure_mpa",
            value=frame.current / UNITS_PER_MPA,
            where="current",
        )
    for i, units in enumerate(frame.records):
        where = f"records[{i}]"
        if frame.interval_s == 0 and i < n - 1:
            out.rejections.append(
                PartRejection(where, "bad_time", "interval 0 leaves older records without a time")
            )
            continue
        try:
            taken = newest - step * (n - i - 1)
            ts = apply_time_policy(taken, received_at=received_at, policy=policy)
        except BadTime as exc:
            out.rejections.append(PartRejection(where, exc.reason, exc.detail))
            continue
        _add(out, device_id, ts, "pressure_mpa", value=units / UNITS_PER_MPA, where=where)
    # A mains-powered terminal's charge bits say nothing about a battery: reporting them as
    # battery_pct would raise false low-battery hazards.
    if frame.battery_powered:
        _add(out, device_id, newest, "battery_pct", value=float(frame.charge_pct), where="battery")
    _add(out, device_id, newest, "rsrp_dbm", value=float(frame.signal_dbm), where="signal")
    return out


def _add(
    out: Decoded, device_id: str, ts: datetime, metric: str, *, value: float, where: str
) -> None:
    reason = check_value(metric, value)
    if reason is not None:
        out.rejections.append(PartRejection(where, reason, f"{metric}={value}"))
        return
    out.records.append(Reading(device_id, ts, None, metric, value))
