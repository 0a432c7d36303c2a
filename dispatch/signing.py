"""Standard Webhooks signatures (https://www.standardwebhooks.com): sign and verify.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is
``v1,<base64 HMAC-SHA256>`` keyed with the base64 bytes after ``whsec_``. A few lines of
``hmac`` rather than the ``standardwebhooks`` package: its ``sign`` takes a naive datetime
(``utcfromtimestamp``, deprecated) and it brings dependencies for what is one HMAC; the tests
hold this module to the spec's published test vector.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

__all__ = ["PREFIX", "SignatureError", "headers", "secret_key", "sign", "verify"]

PREFIX: Final = "whsec_"


class SignatureError(ValueError):
    """A secret that is not ``whsec_<base64>``, or a signature that does not verify."""


def secret_key(secret: str) -> bytes:
    """Return the HMAC key of a ``whsec_…`` secret (the prefix is optional, as the spec allows)."""
    raw = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the webhook secret must be whsec_ followed by base64") from None
    if len(key) < 16:  # the spec asks for 24 to 64 bytes; below 16 is no secret at all
        raise SignatureError("the webhook secret is too short (at least 16 bytes of base64)")
    return key


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value (``v1,<base64>``) of one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers of one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


def verify(
    secret: str, *, headers: Mapping[str, str], body: bytes, now: int, tolerance_s: int = 300
) -> None:
    """Raise ``SignatureError`` unless ``headers`` sign ``body`` with ``secret`` near ``now``.

    What a receiver does: any of the space-separated ``v1,`` signatures may match.
    """
    try:
        msg_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        given = headers["webhook-signature"].split()
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook headers") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("the webhook timestamp is too far from now")
    expected = sign(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    if not any(hmac.compare_digest(expected, s) for s in given):
        raise SignatureError("no webhook signature matches")
