"""FireGrid's own accounts on its embedded broker: the service client and the plugin's admin.

Generated at the first start and kept in the broker's data directory (mode 0600, beside the
broker's own state, which is as private), so that a CLI command started beside ``firegrid up``
connects as FireGrid too. Devices' credentials are not here: only their hashes are kept, in the
database.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ACCOUNTS_FILE = "firegrid-accounts.json"
SERVICE_USER = "firegrid"
ADMIN_USER = "firegrid-admin"


@dataclass(frozen=True)
class OwnAccounts:
    """The passwords of FireGrid's service client and of the dynamic-security admin."""

    service_password: str
    admin_password: str
    service_username: str = SERVICE_USER
    admin_username: str = ADMIN_USER

    def __repr__(self) -> str:  # never the passwords
        return f"OwnAccounts({self.service_username!r}, {self.admin_username!r})"


def own_accounts(broker_dir: Path, *, create: bool = True) -> OwnAccounts | None:
    """Return FireGrid's accounts on the broker in ``broker_dir``, made once if ``create``."""
    path = broker_dir / ACCOUNTS_FILE
    try:
        stored = json.loads(path.read_text())
        return OwnAccounts(service_password=stored["service"], admin_password=stored["admin"])
    except (OSError, ValueError, KeyError, TypeError):
        if not create:
            return None
    accounts = OwnAccounts(
        service_password=secrets.token_urlsafe(32), admin_password=secrets.token_urlsafe(32)
    )
    # Created 0600 from the start: never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"service": accounts.service_password, "admin": accounts.admin_password}, handle)
    return accounts


def with_user(url: str, username: str, password: str) -> str:
    """Return ``url`` with its user part set to ``username:password`` (both URL-quoted)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
