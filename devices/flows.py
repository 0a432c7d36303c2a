"""Registry imports as the CLI and the API both run them: parse, then upsert the valid rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from devices import credentials, registry, service
from devices.broker_accounts import BrokerAccounts
from devices.credentials import IssuedCredential, Scope
from devices.models import DeviceKind
from devices.registry_gaps import RegistryWarning, registry_warnings
from devices.views import ImportCounts
from infra.database import Conn

RegistryKind = Literal["devices", "units", "staff"]

_PARSERS: dict[str, Callable[..., registry.ParsedRows[Any]]] = {
    "devices": registry.parse_devices,
    "units": registry.parse_units,
    "staff": registry.parse_staff,
}
_UPSERTS: dict[str, Callable[..., ImportCounts]] = {
    "devices": service.upsert_devices,
    "units": service.upsert_units,
    "staff": service.upsert_staff,
}


@dataclass(frozen=True)
class ImportOutcome:
    """What an import stored and the rows it refused."""

    counts: ImportCounts
    errors: Sequence[registry.RowError]
    # Devices only: what the stored rows still lack for the rules (imported all the same).
    warnings: Sequence[RegistryWarning] = ()
    # Devices and terminals that got a broker credential, with its secret (shown only here).
    credentials: Sequence[IssuedCredential] = ()


def parse_registry(
    kind: RegistryKind, data: bytes, *, fmt: registry.Format | None
) -> registry.ParsedRows[Any]:
    """Parse ``data`` as rows of registry ``kind`` (CSV or a JSON array; None sniffs)."""
    return _PARSERS[kind](data, fmt=fmt)


def unreadable(parsed: registry.ParsedRows[Any]) -> registry.RowError | None:
    """Return the whole-input error (row 0) when nothing of the input could be read."""
    return next((e for e in parsed.errors if e.row == 0), None)


def store_registry(
    conn: Conn,
    *,
    kind: RegistryKind,
    parsed: registry.ParsedRows[Any],
    accounts: BrokerAccounts | None = None,
) -> ImportOutcome:
    """Upsert the valid rows of ``parsed``; rows whose ID exists are updated.

    Devices, and terminals named by staff rows, that have no broker credential get one; the
    broker (``accounts``) learns of it before the caller commits, so a refusal there rolls the
    import back rather than answering secrets the broker does not know.
    """
    counts = _UPSERTS[kind](conn, rows=parsed.rows)
    warnings: list[RegistryWarning] = []
    if kind == "devices":
        warnings = registry_warnings(conn, device_ids=[row.device_id for row in parsed.rows])
    secrets = credentials.provision(conn, principals=_principals(kind, parsed.rows))
    if accounts is not None:
        accounts.provisioned(secrets)
    return ImportOutcome(
        counts=counts,
        errors=parsed.errors,
        warnings=warnings,
        credentials=[s.issued() for s in secrets],
    )


def _principals(kind: RegistryKind, rows: Sequence[Any]) -> list[tuple[str, Scope]]:
    """Return the (username, scope) each imported row connects to the broker as."""
    if kind == "devices":
        return [(row.device_id, "t" if row.kind == DeviceKind.TERMINAL else "d") for row in rows]
    if kind == "staff":
        return [(row.terminal_id, "t") for row in rows if row.terminal_id is not None]
    return []


def rotate_credential(
    conn: Conn, *, username: str, accounts: BrokerAccounts | None = None
) -> IssuedCredential:
    """Give ``username`` a new secret (its first, if it had none); the old one stops at once."""
    secret = credentials.rotate(conn, username=username)
    if accounts is not None:
        accounts.rotated(secret)
    return secret.issued()


def set_credential_disabled(
    conn: Conn, *, username: str, disabled: bool, accounts: BrokerAccounts | None = None
) -> None:
    """Disable (or enable again) ``username``'s credential, at the broker too."""
    credentials.set_disabled(conn, username=username, disabled=disabled)
    if accounts is not None:
        accounts.set_disabled(username, disabled=disabled)


def delete_credential(conn: Conn, *, username: str, accounts: BrokerAccounts | None = None) -> None:
    """Delete ``username``'s credential, at the broker too."""
    credentials.delete(conn, username=username)
    if accounts is not None:
        accounts.deleted(username)
