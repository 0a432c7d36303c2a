"""Photo checks: hash against the topic, JPEG/PNG by magic bytes, size, EXIF time and GPS."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from devices.exceptions import DecodeError
from devices.photos import inspect_photo, read_exif, sniff
from simulators.terminal import make_photo

TAKEN = datetime(2026, 11, 26, 7, 12, 0, tzinfo=UTC)


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def test_jpeg_with_exif_time_and_gps() -> None:
    raw = make_photo(seed=1, taken_at=TAKEN, gps=(31.24795, 121.587438))
    photo = inspect_photo(raw, sha256=sha(raw), terminal_id="T1")
    assert (photo.content_type, photo.size, photo.terminal_id) == ("image/jpeg", len(raw), "T1")
    assert photo.exif_ts == TAKEN
    assert photo.exif_lat == pytest.approx(31.24795, abs=1e-6)
    assert photo.exif_lon == pytest.approx(121.587438, abs=1e-6)


def test_png_is_accepted_and_upper_case_topic_hash_matches() -> None:
    raw = make_photo(seed=2, fmt="PNG")
    photo = inspect_photo(raw, sha256=sha(raw).upper(), terminal_id="T1")
    assert photo.content_type == "image/png"
    assert photo.sha256 == sha(raw)
    assert (photo.exif_ts, photo.exif_lat, photo.exif_lon) == (None, None, None)


def test_hash_mismatch() -> None:
    raw = make_photo(seed=3)
    with pytest.raises(DecodeError) as caught:
        inspect_photo(raw, sha256=sha(raw + b"x"), terminal_id="T1")
    assert caught.value.reason == "hash_mismatch"


@pytest.mark.parametrize(
    "raw",
    [b"GIF89a" + b"\x00" * 64, b"%PDF-1.7\n", b"", b"\xff\xd8", b"RIFF\x00\x00\x00\x00WEBPVP8 "],
)
def test_only_jpeg_and_png_by_their_magic_bytes(raw: bytes) -> None:
    assert sniff(raw) is None
    with pytest.raises(DecodeError) as caught:
        inspect_photo(raw, sha256=sha(raw), terminal_id="T1")
    assert caught.value.reason == "unsupported_media"


def test_size_limit_is_checked_before_anything_else() -> None:
    raw = b"\xff\xd8\xff" + b"\x00" * 100
    inspect_photo(raw, sha256=sha(raw), terminal_id="T1", max_bytes=len(raw))
    with pytest.raises(DecodeError) as caught:
        inspect_photo(raw, sha256="0" * 64, terminal_id="T1", max_bytes=len(raw) - 1)
    assert caught.value.reason == "photo_too_large"


def test_default_limit_is_four_mebibytes() -> None:
    raw = b"\xff\xd8\xff" + b"\x00" * (4 * 1024 * 1024 - 2)
    with pytest.raises(DecodeError) as caught:
        inspect_photo(raw, sha256=sha(raw), terminal_id="T1")
    assert caught.value.reason == "photo_too_large"


def test_corrupt_image_after_valid_magic_is_kept_without_exif() -> None:
    raw = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00garbage-garbage"
    photo = inspect_photo(raw, sha256=sha(raw), terminal_id="T1")
    assert (photo.content_type, photo.exif_ts, photo.exif_lat) == ("image/jpeg", None, None)


def test_exif_time_without_offset_takes_the_configured_default() -> None:
    image = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:11:26 15:12:00"
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    ts, lat, lon = read_exif(buf.getvalue())
    assert (ts, lat, lon) == (TAKEN, None, None)  # 15:12 in China is 07:12 UTC
    ts, _, _ = read_exif(buf.getvalue(), default_offset=timedelta(0))
    assert ts == TAKEN + timedelta(hours=8)


def test_southern_and_western_gps_are_negative() -> None:
    raw = make_photo(seed=4, gps=(-33.8568, -70.6483))
    _, lat, lon = read_exif(raw)
    assert (lat, lon) == (pytest.approx(-33.8568, abs=1e-6), pytest.approx(-70.6483, abs=1e-6))
