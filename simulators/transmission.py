"""A user-information transmission device (用户信息传输装置) speaking GB/T 26875.3 over TCP.

It does what the panels in key units do to a monitoring centre: connects, sends fire alarms,
faults, power failures and analog values as send-data frames (command 2), and waits for the
centre's confirm of each, echoing its serial. A frame not confirmed within ``resend_after_s``
(10 s in the standard), or denied, or whose connection broke, is sent again on a fresh
connection, at most ``retries`` more times (3 in the standard). Each ``send`` answers how it
went (attempts, the confirm's latency), which tests and the benchmark assert on. It confirms
the centre's commands (clock sync, duty check) and answers its status reads (types 61, 62) with
what it last reported of the system or part, as a panel does.

Frames are built with ``devices.codecs.gb26875_frame``: the same wire format FireGrid reads.
"""

from __future__ import annotations

import socket
import struct
import time
from datetime import UTC, datetime
from typing import Final

from msgspec import Struct

from devices.codecs.gb26875_frame import (
    ANALOG_VALUE,
    ANSWER,
    CONFIRM,
    CONTROL,
    DEVICE_OPERATION,
    DEVICE_STATUS,
    HEADER_SIZE,
    PART_STATUS,
    REQUEST,
    SEND_DATA,
    SYSTEM_STATUS,
    AnalogValue,
    DeviceOperation,
    DeviceStatus,
    GbFrame,
    GbObject,
    PartStatus,
    SystemStatus,
    encode,
    parse_frame,
    split_frames,
    unit_length,
)

NORMAL: Final = 1 << 0  # status bit 0: running normally (0: under test)
FIRE: Final = 1 << 1  # part status bit 1
FAULT: Final = 1 << 2  # part status bit 2
DEVICE_POWER_FAULT: Final = 1 << 3  # transmission-device status bit 3: main power failed
SMOKE_PART: Final = 40
PRESSURE_KPA_TENTHS: Final = 5  # analog type 5: pressure in 0.1 kPa
DUTY_CHECK_TYPE: Final = 91  # the centre's duty check (查岗)
READ_SYSTEM_STATUS_TYPE: Final = 61  # the centre reads a system's status ...
READ_PART_STATUS_TYPE: Final = 62  # ... or a part's (GB/T 26875.3-2011 §8.3.2)
_READ_PART: Final = struct.Struct("<BBHH")  # system type, system address, zone, position
DUTY_ANSWER: Final = 1 << 5  # transmission-device operation bit 5: the duty-check answer
FIRE_ALARM_SYSTEM: Final = 1
HYDRANT_SYSTEM: Final = 11


class Delivery(Struct, frozen=True):
    """How one frame went: its serial, how often it was sent, the last confirm's latency."""

    serial: int
    frame: bytes
    attempts: int
    confirmed: bool
    latency_s: float | None  # from the last send to its confirm
    # Why the last attempt failed when the connection did (refused, reset), for the tester.
    error: str | None = None


class TransmissionDevice:
    """One device's TCP session with the centre; ``send`` blocks until confirmed or given up."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        address: int,
        centre: int = 88888,
        resend_after_s: float = 10.0,
        retries: int = 3,
        reconnect_wait_s: float = 0.2,
        confirm_commands: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.address, self.centre = address, centre
        self.resend_after_s, self.retries = resend_after_s, retries
        self._reconnect_wait_s = reconnect_wait_s
        self.confirm_commands = confirm_commands  # False: a device deaf to the centre
        self._sock: socket.socket | None = None
        self._inbox = bytearray()
        self._serial = 0
        self.answers: list[GbFrame] = []  # every answer the centre sent, in order
        self.commands: list[int] = []  # data-unit types of the centre's commands, in order
        # What a status read answers: the last status reported of each part, by
        # (system type, system address, zone, position).
        self.parts: dict[tuple[int, int, int, int], PartStatus] = {}

    def __enter__(self) -> TransmissionDevice:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open the connection now (``send`` opens it when needed)."""
        self._socket()

    def close(self) -> None:
        """Close the connection (the next send opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._inbox.clear()

    # ---- what a device reports -------------------------------------------------------------

    def fire_alarm(
        self, zone: int, position: int, *, at: datetime, description: str = "感烟探测器火警"
    ) -> Delivery:
        """Report a smoke detector's fire alarm (type 2, fire bit)."""
        part = PartStatus(FIRE_ALARM_SYSTEM, 1, SMOKE_PART, zone, position, FIRE, description, at)
        return self.send(PART_STATUS, [part])

    def fault(
        self, zone: int, position: int, *, at: datetime, description: str = "故障"
    ) -> Delivery:
        """Report a part's fault (type 2, fault bit)."""
        part = PartStatus(FIRE_ALARM_SYSTEM, 1, SMOKE_PART, zone, position, FAULT, description, at)
        return self.send(PART_STATUS, [part])

    def power_failure(self, *, at: datetime) -> Delivery:
        """Report the device's own main power failure (type 21)."""
        return self.send(DEVICE_STATUS, [DeviceStatus(DEVICE_POWER_FAULT, at)])

    def pressure(self, zone: int, position: int, kpa: float, *, at: datetime) -> Delivery:
        """Report a hydrant pressure in kPa (type 3, analog type 5, 0.1 kPa)."""
        value = round(kpa * 10)
        obj = AnalogValue(HYDRANT_SYSTEM, 1, 0, zone, position, PRESSURE_KPA_TENTHS, value, at)
        return self.send(ANALOG_VALUE, [obj])

    # ---- the protocol ----------------------------------------------------------------------

    def frame(self, unit_type: int, objects: list[GbObject]) -> tuple[int, bytes]:
        """Build the next send-data frame; return its serial and bytes."""
        self._serial = self._serial % 0xFFFF + 1
        raw = encode(
            GbFrame(
                serial=self._serial,
                time=datetime.now(UTC),
                source=self.address,
                destination=self.centre,
                command=SEND_DATA,
                unit_type=unit_type,
                objects=tuple(objects),
            )
        )
        return self._serial, raw

    def send(self, unit_type: int, objects: list[GbObject]) -> Delivery:
        """Send one frame and wait for its confirm, resending as the standard says."""
        serial, raw = self.frame(unit_type, objects)
        for obj in objects:
            if isinstance(obj, PartStatus):
                key = (obj.system_type, obj.system_address, obj.zone, obj.position)
                self.parts[key] = obj
        return self.deliver(serial, raw)

    def deliver(self, serial: int, raw: bytes) -> Delivery:
        """Send ``raw`` until the centre confirms ``serial`` or the retries are spent."""
        attempts = 0
        error: str | None = None
        while attempts <= self.retries:
            attempts += 1
            started = time.monotonic()
            try:
                self._socket().sendall(raw)
                answer = self._await_answer(serial, deadline=started + self.resend_after_s)
                error = None
            except OSError as exc:
                answer, error = None, exc.strerror or str(exc) or type(exc).__name__
                self.close()
                time.sleep(self._reconnect_wait_s)
            if answer is not None and answer.command == CONFIRM:
                return Delivery(serial, raw, attempts, True, time.monotonic() - started)
            if answer is None:
                self.close()  # a centre that went quiet: resend on a fresh connection
        return Delivery(serial, raw, attempts, False, None, error)

    def _socket(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=5.0)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._sock

    def _await_answer(self, serial: int, *, deadline: float) -> GbFrame | None:
        """Return the centre's answer to ``serial``, or None when the deadline passes."""
        sock = self._socket()
        while True:
            for answer in self._take_frames():
                self.answers.append(answer)
                if answer.serial == serial:
                    return answer
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                return None
            if not data:
                raise ConnectionResetError("the centre closed the connection")
            self._inbox += data

    def serve_commands(self, duration_s: float, *, answer_duty_checks: bool = True) -> list[int]:
        """Read the centre's commands for ``duration_s``: confirm each, answer duty checks.

        Returns the data-unit types of the commands received, in order. A duty check is
        answered as a unit's operator does, by the device's operation record with bit 5.
        """
        received: list[int] = []
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            # No serial is -1: this only reads (and confirms commands) for a tenth of a second.
            self._await_answer(-1, deadline=min(deadline, time.monotonic() + 0.1))
            for command in self.commands[len(received) :]:
                received.append(command)
                if command == DUTY_CHECK_TYPE and answer_duty_checks:
                    self.send(
                        DEVICE_OPERATION, [DeviceOperation(DUTY_ANSWER, 1, datetime.now(UTC))]
                    )
        return received

    def _confirm_command(self, frame: bytes) -> None:
        head = parse_frame(frame)
        unit_type = frame[HEADER_SIZE] if unit_length(frame) else -1
        self.commands.append(unit_type)
        if not self.confirm_commands:
            return
        reply = GbFrame(
            serial=head.serial,
            time=datetime.now(UTC),
            source=head.destination,
            destination=head.source,
            command=CONFIRM,
            version=head.version,
        )
        self._socket().sendall(encode(reply))

    def _answer_read(self, frame: bytes) -> None:
        head = parse_frame(frame)
        unit_type = frame[HEADER_SIZE] if unit_length(frame) >= 4 else -1
        self.commands.append(unit_type)
        if not self.confirm_commands:
            return
        now = datetime.now(UTC)
        objects: list[GbObject]
        if unit_type == READ_SYSTEM_STATUS_TYPE:
            system_type, system_address = frame[HEADER_SIZE + 2], frame[HEADER_SIZE + 3]
            answer_type, objects = (
                SYSTEM_STATUS,
                [
                    SystemStatus(
                        system_type,
                        system_address,
                        self._system_flags(system_type, system_address),
                        now,
                    )
                ],
            )
        elif unit_type == READ_PART_STATUS_TYPE:
            key = _READ_PART.unpack_from(frame, HEADER_SIZE + 2)
            normal = PartStatus(key[0], key[1], 0, key[2], key[3], NORMAL, "正常", now)
            answer_type, objects = PART_STATUS, [self.parts.get(key, normal)]
        else:
            return  # a read this device does not know: left unanswered, the centre gives up
        reply = GbFrame(
            serial=head.serial,
            time=now,
            source=head.destination,
            destination=head.source,
            command=ANSWER,
            unit_type=answer_type,
            objects=tuple(objects),
            version=head.version,
        )
        self._socket().sendall(encode(reply))

    def _system_flags(self, system_type: int, system_address: int) -> int:
        """Return a system's status: normal, with the fire and fault bits its parts report."""
        flags = NORMAL
        for (part_system, part_address, _zone, _position), part in self.parts.items():
            if (part_system, part_address) == (system_type, system_address):
                flags |= part.status & (FIRE | FAULT)
        return flags

    def _take_frames(self) -> list[GbFrame]:
        # The centre is trusted to frame correctly: complete frames are taken, a partial one
        # waits for the rest, anything unframeable is dropped.
        out: list[GbFrame] = []
        used = 0
        for item in split_frames(bytes(self._inbox)):
            if isinstance(item, bytes):
                used += len(item)
                if item[26] == CONTROL:  # a command from the centre: confirmed at once
                    self._confirm_command(item)
                elif item[26] == REQUEST:  # a status read: answered at once
                    self._answer_read(item)
                else:
                    out.append(parse_frame(item))
            elif item.reason == "truncated_frame":
                break
            else:
                used = len(self._inbox)
                break
        del self._inbox[:used]
        return out
