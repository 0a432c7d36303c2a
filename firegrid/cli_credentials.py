"""``firegrid devices credentials rotate|disable|enable|delete ID``: a device's broker account.

The database changes first, then the running broker (FireGrid's own, or a configured one whose
dynamic-security admin is set), inside one transaction: a broker that refuses the change rolls
it back, so the two never disagree about a secret that was printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import psycopg

from firegrid.settings import Settings

ACTIONS = ("rotate", "disable", "enable", "delete")


def add_credentials_commands(devices_actions: Any) -> None:
    """Add ``credentials ACTION ID`` under ``firegrid devices``."""
    creds = devices_actions.add_parser(
        "credentials", help="a device's or terminal's broker credential"
    )
    creds.add_argument(
        "credential_action",
        choices=ACTIONS,
        metavar="rotate|disable|enable|delete",
        help="rotate: print a new secret once (the old one stops at once); disable, enable,"
        " delete: the broker refuses the ID, accepts it again, forgets it",
    )
    creds.add_argument("id", metavar="ID", help="device or terminal ID (the MQTT username)")


def credentials_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one credential action; print JSON (the secret only for rotate, only this once)."""
    from devices.credentials import CredentialNotFoundError
    from devices.flows import delete_credential, rotate_credential, set_credential_disabled
    from firegrid.broker_auth import running_accounts
    from firegrid.cli_commands import InputError, resolve_and_migrate
    from infra.dynsec import DynsecError

    accounts = running_accounts(settings)
    action, username = args.credential_action, args.id
    answer: dict[str, Any] = {"device_id": username, "action": action}
    try:
        with psycopg.connect(resolve_and_migrate(settings)) as conn:
            if action == "rotate":
                answer = rotate_credential(conn, username=username, accounts=accounts).model_dump()
            elif action == "delete":
                delete_credential(conn, username=username, accounts=accounts)
            else:
                set_credential_disabled(
                    conn, username=username, disabled=action == "disable", accounts=accounts
                )
    except CredentialNotFoundError as exc:
        raise InputError(str(exc)) from exc
    except DynsecError as exc:
        print(f"firegrid: the broker refused the change, nothing changed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, ensure_ascii=False))
    if accounts is None:
        print(
            "firegrid: no broker administered by FireGrid is running: FireGrid's own broker takes"
            " the change at its next start; any other broker's operator enforces it",
            file=sys.stderr,
        )
    return 0
