"""Registry imports as the CLI and the API both run them: parse, check, upsert the valid rows.

One result (``RegistryImport``) for both, so a file's errors are counted and worded the same
whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from devices import credentials, registry, service
from devices.broker_accounts import BrokerAccounts
from devices.credentials import IssuedCredential, Scope
from devices.models import DeviceKind
from devices.registry import RowError
from devices.registry_files import Encoding
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


class RegistryImport(BaseModel):
    """What a registry import stored (a dry run: would store), the rows it refused and why."""

    kind: RegistryKind
    format: registry.Format = Field(description="csv or json, as given or sniffed")
    encoding: Encoding | None = Field(
        description="utf-8, utf-8-sig (with a BOM) or gb18030 (GBK), as detected"
    )
    dry_run: bool = Field(description="true: validated and counted, nothing written")
    created: int
    updated: int
    rejected: int = Field(description="rows refused: those with at least one error")
    errors: list[RowError] = Field(description="every problem, in file order")
    # Devices only: what the stored rows still lack for the rules (imported all the same).
    warnings: list[RegistryWarning]
    # Devices and terminals that got a broker credential, with its secret (shown only here;
    # existing ones keep theirs: `firegrid devices credentials rotate ID`). None in a dry run.
    credentials: list[IssuedCredential] = Field(
        default_factory=list,
        description="new broker credentials {device_id, username, password}: shown this once",
    )


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
    dry_run: bool = False,
    accounts: BrokerAccounts | None = None,
) -> RegistryImport:
    """Upsert the valid rows of ``parsed`` (rows whose ID exists are updated).

    A device naming a unit the registry does not hold is refused: import units first. With
    ``dry_run`` everything runs in a transaction rolled back at the end, so the counts and
    warnings are exactly what the import would give, and nothing is written (no credential
    either, and the broker hears of nothing).

    Devices, and terminals named by staff rows, that have no broker credential get one; the
    broker (``accounts``) learns of it before the caller commits, so a refusal there rolls the
    import back rather than answering secrets the broker does not know.
    """
    if not dry_run:
        return _store(conn, kind=kind, parsed=parsed, accounts=accounts)
    with conn.transaction(force_rollback=True):
        return _store(conn, kind=kind, parsed=parsed, accounts=None, dry_run=True)


def _store(
    conn: Conn,
    *,
    kind: RegistryKind,
    parsed: registry.ParsedRows[Any],
    accounts: BrokerAccounts | None,
    dry_run: bool = False,
) -> RegistryImport:
    rows: Sequence[Any] = parsed.rows
    errors = list(parsed.errors)
    if kind == "devices":
        rows, refused = _with_known_units(conn, parsed)
        errors = sorted([*errors, *refused], key=lambda e: e.row)  # stable: a row's own order
    counts = _UPSERTS[kind](conn, rows=rows)
    warnings: list[RegistryWarning] = []
    if kind == "devices":
        warnings = registry_warnings(conn, device_ids=[row.device_id for row in rows])
    issued: list[IssuedCredential] = []
    if not dry_run:
        secrets = credentials.provision(conn, principals=_principals(kind, rows))
        if accounts is not None:
            accounts.provisioned(secrets)
        issued = [s.issued() for s in secrets]
    assert parsed.format is not None  # an unreadable file never gets here
    return RegistryImport(
        kind=kind,
        format=parsed.format,
        encoding=parsed.encoding,
        dry_run=dry_run,
        created=counts.created,
        updated=counts.updated,
        rejected=len({e.row for e in errors}),
        errors=errors,
        warnings=warnings,
        credentials=issued,
    )


def _principals(kind: RegistryKind, rows: Sequence[Any]) -> list[tuple[str, Scope]]:
    """Return the (username, scope) each imported row connects to the broker as."""
    if kind == "devices":
        return [(row.device_id, "t" if row.kind == DeviceKind.TERMINAL else "d") for row in rows]
    if kind == "staff":
        return [(row.terminal_id, "t") for row in rows if row.terminal_id is not None]
    return []


def _with_known_units(
    conn: Conn, parsed: registry.ParsedRows[Any]
) -> tuple[list[Any], list[RowError]]:
    """Split device rows into those whose unit is registered (or none) and errors for the rest.

    Refused rather than warned about: a device under a unit nobody registered would raise its
    hazards against a unit no one answers for, and a typo in a unit ID is the likely cause.
    """
    named = sorted({row.unit_id for row in parsed.rows if row.unit_id is not None})
    known = service.known_unit_ids(conn, ids=named)
    kept: list[Any] = []
    refused: list[RowError] = []
    for row, (number, line) in zip(parsed.rows, parsed.places, strict=True):
        if row.unit_id is None or row.unit_id in known:
            kept.append(row)
            continue
        refused.append(
            RowError(
                row=number,
                line=line,
                field="unit_id",
                message=f"unit {row.unit_id} is not in the registry: import it first"
                " (units file), then this device",
            )
        )
    return kept, refused


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
