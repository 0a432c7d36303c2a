"""Devices' and terminals' broker accounts, kept in step with the registry's credentials.

FireGrid's database is the truth (``devices.credentials``); a broker learns of each change
through a ``BrokerAccounts``. Mosquitto's dynamic-security plugin is the one built here: a role
per device or terminal holding its topics (Mosquitto 2.0's plugin has no ``%u`` in ACLs), a
client per username with that role. ``dynsec_config`` renders the same state as the plugin's
file, which FireGrid writes before its own broker starts, so a restart restores everything
(passwords included: the plugin stores the very PBKDF2 hash FireGrid keeps).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from devices.credentials import HashedPassword, NewSecret, Scope, StoredCredential
from infra.dynsec import ALREADY_EXISTS, NOT_FOUND, Command, DynsecAdmin, DynsecClient

# Commands per control message. Mosquitto 2.0's plugin rewrites its whole state file after
# every command, in the broker's one thread, so a command costs more the more clients the
# broker holds (0.1 s at 3,000, 0.35 s at 10,000 on a shared 2-core machine), and every client
# waits meanwhile. Small messages let the broker serve its devices between them and keep each
# answer far inside the admin's keepalive: a broker silent past it would drop the admin, whose
# client would then send the commands again.
_CHUNK = 10
_ANSWER_TIMEOUT_S = 60.0

SERVICE_ROLE = "firegrid-service"
ADMIN_ROLE = "firegrid-dynsec-admin"


class BrokerAccounts(Protocol):
    """Where credential changes go once stored: the broker that enforces them."""

    def provisioned(self, secrets: Sequence[NewSecret]) -> None:
        """Create these usernames (or reset their password and topics if they exist)."""

    def rotated(self, secret: NewSecret) -> None:
        """Replace a username's password; sessions using the old one end at once."""

    def set_disabled(self, username: str, *, disabled: bool) -> None:
        """Refuse (or accept again) a username; a disabled one's session ends at once."""

    def deleted(self, username: str) -> None:
        """Remove a username and its topics."""


def role_name(username: str, scope: Scope) -> str:
    """Return the dynamic-security role holding ``username``'s topics."""
    return f"fg-{scope}-{username}"


def acls(username: str, scope: Scope, *, prefix: str) -> list[dict[str, Any]]:
    """Return the topics ``username`` may use, as dynamic-security ACL entries.

    A device publishes under ``{prefix}/d/{id}/``; a terminal under ``{prefix}/t/{id}/`` except
    its inbox, which only FireGrid writes and the terminal alone may subscribe to.
    """
    own = f"{prefix}/{scope}/{username}"
    entries: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": f"{own}/#", "allow": True, "priority": 0}
    ]
    if scope == "t":
        entries += [
            # Checked first (higher priority): the inbox is FireGrid's to write.
            {"acltype": "publishClientSend", "topic": f"{own}/inbox", "allow": False,
             "priority": 1},
            {"acltype": "subscribeLiteral", "topic": f"{own}/inbox", "allow": True, "priority": 0},
        ]  # fmt: skip
    return entries


def service_acls() -> list[dict[str, Any]]:
    """Return the ACL of FireGrid's own clients: every topic (ingest, inbox, simulators)."""
    return [
        {"acltype": kind, "topic": "#", "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern",
                     "unsubscribePattern")
    ]  # fmt: skip


def admin_acls() -> list[dict[str, Any]]:
    """Return the ACL of the plugin's admin client: its control topics only."""
    control = "$CONTROL/dynamic-security/#"
    return [
        {"acltype": kind, "topic": control, "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern",
                     "unsubscribePattern")
    ]  # fmt: skip


def _client_entry(
    username: str, *, password_hash: str, salt: str, iterations: int, roles: Iterable[str],
    disabled: bool = False,
) -> dict[str, Any]:  # fmt: skip
    # The plugin keeps base64 of the hash bytes and of the salt bytes: the same PBKDF2 the
    # database keeps in hex, with the salt's ASCII characters as its bytes.
    return {
        "username": username,
        "password": base64.b64encode(bytes.fromhex(password_hash)).decode(),
        "salt": base64.b64encode(salt.encode()).decode(),
        "iterations": iterations,
        "disabled": disabled,
        "roles": [{"rolename": r} for r in roles],
    }


def dynsec_config(
    credentials: Iterable[StoredCredential],
    *,
    prefix: str,
    service: tuple[str, HashedPassword],
    admin: tuple[str, HashedPassword],
) -> dict[str, Any]:
    """Render the plugin's state file: FireGrid's service and admin clients, then every device.

    ``service`` and ``admin`` are (username, hashed password) of FireGrid's own clients.
    """
    clients: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = [
        {"rolename": SERVICE_ROLE, "acls": service_acls()},
        {"rolename": ADMIN_ROLE, "acls": admin_acls()},
    ]
    for username, own, own_role in ((*service, SERVICE_ROLE), (*admin, ADMIN_ROLE)):
        clients.append(
            _client_entry(username, password_hash=own.password_hash, salt=own.salt,
                          iterations=own.iterations, roles=[own_role])
        )  # fmt: skip
    for cred in credentials:
        role = role_name(cred.username, cred.scope)
        roles.append({"rolename": role, "acls": acls(cred.username, cred.scope, prefix=prefix)})
        clients.append(
            _client_entry(cred.username, password_hash=cred.password_hash, salt=cred.salt,
                          iterations=cred.iterations, roles=[role], disabled=cred.disabled)
        )  # fmt: skip
    return {
        "clients": clients,
        "groups": [],
        "roles": roles,
        # Nothing is allowed unless a role says so, except receiving what one may subscribe to.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


class DynsecAccounts:
    """``BrokerAccounts`` through Mosquitto's dynamic-security control topic."""

    def __init__(self, admin: DynsecAdmin, *, prefix: str) -> None:
        self._admin = admin
        self._prefix = prefix

    def provisioned(self, secrets: Sequence[NewSecret]) -> None:
        """Create a role and a client per secret; an existing client gets the new password."""
        if not secrets:
            return
        with DynsecClient(self._admin, timeout_s=_ANSWER_TIMEOUT_S) as control:
            existing: list[NewSecret] = []
            for start in range(0, len(secrets), _CHUNK // 2):
                chunk = secrets[start : start + _CHUNK // 2]
                commands: list[Command] = []
                for s in chunk:
                    role = role_name(s.username, s.scope)
                    commands += [
                        {"command": "createRole", "rolename": role,
                         "acls": acls(s.username, s.scope, prefix=self._prefix)},
                        {"command": "createClient", "username": s.username,
                         "password": s.password, "roles": [{"rolename": role}]},
                    ]  # fmt: skip
                answers = control.send(commands, tolerate=[ALREADY_EXISTS])
                existing += [s for s, a in zip(chunk, answers[1::2], strict=True) if "error" in a]
            for start in range(0, len(existing), _CHUNK // 2):
                commands = []
                for s in existing[start : start + _CHUNK // 2]:
                    commands += _reset(s)
                control.send(commands, tolerate=[ALREADY_EXISTS])

    def rotated(self, secret: NewSecret) -> None:
        """Set the new password and the scope's role (creating the client if the broker lacks
        it); a disabled client stays disabled."""
        role = role_name(secret.username, secret.scope)
        with DynsecClient(self._admin, timeout_s=_ANSWER_TIMEOUT_S) as control:
            answers = control.send(
                [{"command": "setClientPassword", "username": secret.username,
                  "password": secret.password}],
                tolerate=[NOT_FOUND],
            )  # fmt: skip
            if "error" not in answers[0]:
                control.send(
                    [{"command": "createRole", "rolename": role,
                      "acls": acls(secret.username, secret.scope, prefix=self._prefix)},
                     # The whole role list at once: addClientRole of a role the client holds
                     # is an "Internal error" in Mosquitto 2.0.
                     {"command": "modifyClient", "username": secret.username,
                      "roles": [{"rolename": role}]}],
                    tolerate=[ALREADY_EXISTS, NOT_FOUND],
                )  # fmt: skip
                return
        self.provisioned([secret])

    def set_disabled(self, username: str, *, disabled: bool) -> None:
        """Disable or enable the client; disabling one the broker never had is not an error
        (it is refused either way)."""
        command = "disableClient" if disabled else "enableClient"
        with DynsecClient(self._admin, timeout_s=_ANSWER_TIMEOUT_S) as control:
            control.send(
                [{"command": command, "username": username}],
                tolerate=[NOT_FOUND] if disabled else [],
            )

    def deleted(self, username: str) -> None:
        """Delete the client and its role; one the broker never had is not an error."""
        with DynsecClient(self._admin, timeout_s=_ANSWER_TIMEOUT_S) as control:
            control.send(
                [{"command": "deleteClient", "username": username}]
                + [{"command": "deleteRole", "rolename": role_name(username, scope)}
                   for scope in ("d", "t")],
                tolerate=[NOT_FOUND],
            )  # fmt: skip


def _reset(secret: NewSecret) -> list[Command]:
    """Commands giving an existing client a new password and its role back, enabled."""
    return [
        {"command": "setClientPassword", "username": secret.username, "password": secret.password},
        {"command": "modifyClient", "username": secret.username,
         "roles": [{"rolename": role_name(secret.username, secret.scope)}]},
        {"command": "enableClient", "username": secret.username},
    ]  # fmt: skip
