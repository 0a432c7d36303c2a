"""What the NMEA decoder is given and gives back: the fix policy and the decoded result.

Apart from ``devices.codecs.nmea`` so the sentence parsers and the fix filter it calls can name
these types without importing the decoder that imports them.
"""

from __future__ import annotations

from datetime import timedelta

from msgspec import Struct, field

from devices.models import Fix, PartRejection


class NmeaPolicy(Struct, frozen=True):
    """Which fixes count as valid (DOMAIN.md §6 practice defaults, all configurable).

    ``hdop_error_m`` is the horizontal error, in metres per unit of HDOP, that the jump check
    allows for at each end: about 2 x a 5 m UERE, i.e. a 95 % error circle. Without it the first
    fixes after acquisition, which wander by tens of metres while the terminal stands still,
    read as a runner (the real beidou-bd.log jumps 33 m in its first second at HDOP 1.1-1.3).
    ``max_ahead``: a GGA dated from ``received_at`` may not lie further ahead of it than this.
    """

    min_satellites: int = 4
    max_hdop: float = 5.0
    flag_hdop: float = 2.0
    max_speed_mps: float = 10.0
    hdop_error_m: float = 10.0
    reject_qualities: frozenset[int] = frozenset({0, 6, 7, 8})
    reject_rmc_void: bool = True
    date_from_received_at: bool = True
    max_ahead: timedelta = timedelta(hours=12)


class NmeaDecoded(Struct):
    """Fixes in time order, rejected lines, counts by reason, and the number of sentences."""

    fixes: list[Fix] = field(default_factory=list)
    rejections: list[PartRejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    sentences: int = 0
