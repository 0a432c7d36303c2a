"""Photo evidence from terminals (CONTRACT §1 `fg/v1/t/{terminal_id}/photo/{sha256}`). Pure.

The topic names the SHA-256 of the bytes; the bytes must be JPEG or PNG (told by their magic
bytes, not by anything the sender claims) and at most the configured size. EXIF, when present,
gives the time the photo was taken and where (GPS IFD, WGS-84 by the EXIF standard).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from PIL import Image

from devices.exceptions import DecodeError
from devices.models import Photo

MAX_PHOTO_BYTES: Final = 4 * 1024 * 1024
# Magic bytes -> content type. JPEG starts with SOI + the first marker's 0xFF.
_MAGIC: Final = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_EXIF_IFD: Final = 0x8769
_GPS_IFD: Final = 0x8825
_DATETIME: Final = 0x0132  # IFD0 DateTime: when the file was last changed, a fallback
_DATETIME_ORIGINAL: Final = 0x9003
_OFFSET_TIME_ORIGINAL: Final = 0x9011
# GPS IFD tags: 1 latitude ref (N/S), 2 latitude (deg, min, sec), 3 longitude ref, 4 longitude.
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
# Terminals in China write local time without an offset unless OffsetTimeOriginal is set.
CHINA_STANDARD_TIME: Final = timedelta(hours=8)


def sniff(raw: bytes) -> str | None:
    """Return the content type the magic bytes of ``raw`` say, or None if neither JPEG nor PNG."""
    for magic, content_type in _MAGIC:
        if raw.startswith(magic):
            return content_type
    return None


def inspect_photo(
    raw: bytes,
    *,
    sha256: str,
    terminal_id: str,
    max_bytes: int = MAX_PHOTO_BYTES,
    exif_offset: timedelta = CHINA_STANDARD_TIME,
) -> Photo:
    """Check a photo against its topic's hash, type and size limits; read its EXIF."""
    if len(raw) > max_bytes:
        raise DecodeError("photo_too_large", raw, detail=f"{len(raw)} bytes > {max_bytes}")
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha256.lower():
        raise DecodeError(
            "hash_mismatch", raw, detail=f"topic says {sha256[:16]}…, bytes hash to {actual[:16]}…"
        )
    content_type = sniff(raw)
    if content_type is None:
        raise DecodeError(
            "unsupported_media", raw, detail=f"starts with {raw[:8].hex()}: not JPEG or PNG"
        )
    exif_ts, lat, lon = read_exif(raw, default_offset=exif_offset)
    return Photo(actual, terminal_id, content_type, raw, exif_ts, lat, lon)


def read_exif(
    raw: bytes, *, default_offset: timedelta = CHINA_STANDARD_TIME
) -> tuple[datetime | None, float | None, float | None]:
    """Return (time taken, latitude, longitude) from EXIF; None for whatever is absent or bad."""
    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF and huge images; neither may reject the evidence.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw)) as image:
                exif = image.getexif()
                ifd = exif.get_ifd(_EXIF_IFD)
                gps = exif.get_ifd(_GPS_IFD)
                stamp = ifd.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
                offset = ifd.get(_OFFSET_TIME_ORIGINAL)
    except Exception:  # any parse failure of the image just means "no EXIF"
        return None, None, None
    lat = _gps_angle(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), b"N", b"S", 90.0)
    lon = _gps_angle(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), b"E", b"W", 180.0)
    if lat is None or lon is None:
        lat = lon = None
    return _exif_time(stamp, offset, default_offset), lat, lon


def _exif_time(stamp: Any, offset: Any, default_offset: timedelta) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        local = datetime.strptime(stamp.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone: Any = timezone(default_offset)
    if isinstance(offset, str):
        # A bad offset falls back to the default; the time itself is still usable.
        with contextlib.suppress(ValueError):
            zone = datetime.strptime(offset.strip("\x00 "), "%z").tzinfo or zone
    return local.replace(tzinfo=zone).astimezone(UTC)


def _gps_angle(value: Any, ref: Any, pos: bytes, neg: bytes, limit: float) -> float | None:
    """Return signed degrees from an EXIF (degrees, minutes, seconds) triple and its ref."""
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    angle = d + m / 60.0 + s / 3600.0
    if not math.isfinite(angle) or angle > limit:
        return None
    ref_bytes = ref.encode() if isinstance(ref, str) else ref
    if isinstance(ref_bytes, bytes):
        ref_bytes = ref_bytes.strip(b"\x00 ").upper()
    if ref_bytes == neg:
        return -angle
    if ref_bytes == pos:
        return angle
    return None
