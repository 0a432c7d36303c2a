"""Broker credentials of devices and terminals: generated once, shown once, stored as a hash.

A secret is 32 random bytes (URL-safe text). Only its PBKDF2-HMAC-SHA512 hash is kept, in the
one scheme both Mosquitto's dynamic-security plugin and EMQX's PostgreSQL authenticator verify
(``firegrid/migrations/m0018_device_credentials.py``). The secret is random, not chosen by a
person, so key stretching adds nothing against guessing it; the iteration count is Mosquitto's
own for the plugin (101), which keeps both a city's import (0.4 ms a hash on the reference box)
and a city's devices reconnecting at once after a broker restart cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from psycopg.rows import class_row
from pydantic import BaseModel, ConfigDict

from devices.exceptions import DeviceError
from infra.database import Conn

Scope = Literal["d", "t"]  # the topic namespace: fg/v1/d/{id}/... or fg/v1/t/{id}/...

ITERATIONS: Final = 101  # what `mosquitto_ctrl dynsec` uses; EMQX is configured to match
SALT_CHARS: Final = 12  # Mosquitto's dynamic-security plugin accepts a 12-byte salt only


class CredentialNotFoundError(DeviceError):
    """No device or terminal of that ID has (or can be given) a credential."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"no device or terminal {username!r} in the registry")


class IssuedCredential(BaseModel):
    """A credential as shown once, at import or rotation: the secret is never shown again."""

    model_config = ConfigDict(frozen=True)

    device_id: str  # the device's or terminal's ID
    username: str
    password: str


@dataclass(frozen=True)
class NewSecret:
    """A secret just generated, with the scope its username publishes under."""

    username: str
    scope: Scope
    password: str

    def issued(self) -> IssuedCredential:
        """Return what the import's answer or the CLI shows."""
        return IssuedCredential(
            device_id=self.username, username=self.username, password=self.password
        )


@dataclass(frozen=True)
class StoredCredential:
    """A stored credential: what a broker needs to check a password and its topics."""

    username: str
    scope: Scope
    password_hash: str
    salt: str
    iterations: int
    disabled: bool


@dataclass(frozen=True)
class HashedPassword:
    """A password as stored: hex PBKDF2-HMAC-SHA512, its salt and iteration count."""

    password_hash: str
    salt: str
    iterations: int = ITERATIONS


def hashed(password: str) -> HashedPassword:
    """Hash ``password`` with a new salt."""
    salt = _new_salt()
    return HashedPassword(password_hash=hash_secret(password, salt=salt), salt=salt)


def hash_secret(password: str, *, salt: str, iterations: int = ITERATIONS) -> str:
    """Return the hex PBKDF2-HMAC-SHA512 of ``password`` with ``salt`` (its ASCII bytes)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt.encode(), iterations).hex()


def new_secret(username: str, scope: Scope) -> NewSecret:
    """Generate a secret for ``username``."""
    return NewSecret(username=username, scope=scope, password=secrets.token_urlsafe(32))


def _new_salt() -> str:
    return secrets.token_urlsafe(SALT_CHARS)[:SALT_CHARS]


_UPSERT = """
INSERT INTO device_credentials (username, scope, password_hash, salt, iterations)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (username) DO {}
RETURNING username
"""


def provision(conn: Conn, *, principals: Sequence[tuple[str, Scope]]) -> list[NewSecret]:
    """Give a credential to each (username, scope) that has none; return the new secrets.

    Usernames that already have one keep it (``rotate`` replaces it); so does a username taken
    by the other scope (a sensor and a terminal sharing an ID): the first keeps it.
    """
    wanted = dict(principals)
    if not wanted:
        return []
    existing = {
        name
        for (name,) in conn.execute(
            "SELECT username FROM device_credentials WHERE username = ANY(%s)", (list(wanted),)
        ).fetchall()
    }
    fresh = {
        name: new_secret(name, scope) for name, scope in wanted.items() if name not in existing
    }
    if not fresh:
        return []
    rows = []
    for secret in fresh.values():
        stored = hashed(secret.password)
        rows.append((secret.username, secret.scope, stored.password_hash, stored.salt,
                     stored.iterations))  # fmt: skip
    with conn.cursor() as cur:
        # One pipelined round trip for a city's import; RETURNING names the rows inserted, so a
        # username a concurrent import took meanwhile keeps that import's secret.
        cur.executemany(_UPSERT.format("NOTHING"), rows, returning=True)
        inserted = set()
        while True:
            if (row := cur.fetchone()) is not None:
                inserted.add(row[0])
            if not cur.nextset():
                break
    return [secret for name, secret in fresh.items() if name in inserted]


def rotate(conn: Conn, *, username: str) -> NewSecret:
    """Replace ``username``'s secret (creating the credential if it had none) and return it."""
    scope = principal_scope(conn, username=username)
    if scope is None:
        raise CredentialNotFoundError(username)
    secret = new_secret(username, scope)
    salt = _new_salt()
    conn.execute(
        _UPSERT.format(
            # The scope too: a device re-imported as a terminal publishes under t/ from now on.
            "UPDATE SET scope = EXCLUDED.scope, password_hash = EXCLUDED.password_hash,"
            " salt = EXCLUDED.salt, iterations = EXCLUDED.iterations, rotated_at = now()"
        ),
        (username, scope, hash_secret(secret.password, salt=salt), salt, ITERATIONS),
    )
    return secret


def set_disabled(conn: Conn, *, username: str, disabled: bool) -> None:
    """Disable or enable ``username``'s credential."""
    row = conn.execute(
        "UPDATE device_credentials"
        " SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END"
        " WHERE username = %s RETURNING username",
        (disabled, username),
    ).fetchone()
    if row is None:
        raise CredentialNotFoundError(username)


def delete(conn: Conn, *, username: str) -> None:
    """Delete ``username``'s credential: the broker refuses it from then on."""
    if (
        conn.execute(
            "DELETE FROM device_credentials WHERE username = %s RETURNING username", (username,)
        ).fetchone()
        is None
    ):
        raise CredentialNotFoundError(username)


def get(conn: Conn, *, username: str) -> StoredCredential | None:
    """Return ``username``'s stored credential, if it has one."""
    with conn.cursor(row_factory=class_row(StoredCredential)) as cur:
        cur.execute(_SELECT + " WHERE username = %s", (username,))
        return cur.fetchone()


def stored_credentials(conn: Conn) -> list[StoredCredential]:
    """Return every stored credential (for a broker's configuration written at its start)."""
    with conn.cursor(row_factory=class_row(StoredCredential)) as cur:
        cur.execute(_SELECT + " ORDER BY username")
        return cur.fetchall()


_SELECT = (
    "SELECT username, scope, password_hash, salt, iterations, disabled_at IS NOT NULL AS disabled"
    " FROM device_credentials"
)


def principal_scope(conn: Conn, *, username: str) -> Scope | None:
    """Return the scope ``username`` publishes under: a terminal's, a device's, or None."""
    row = conn.execute(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM staff WHERE terminal_id = %(id)s)"
        "  OR EXISTS (SELECT 1 FROM devices WHERE device_id = %(id)s AND kind = 'terminal')"
        "  THEN 't' WHEN EXISTS (SELECT 1 FROM devices WHERE device_id = %(id)s) THEN 'd' END",
        {"id": username},
    ).fetchone()
    scope = row[0] if row is not None else None
    return "t" if scope == "t" else "d" if scope == "d" else None
