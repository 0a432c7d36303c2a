"""What each ``firegrid`` subcommand does, apart from parsing (``firegrid.cli``).

Registry and grid imports, token creation, scenario simulation against a running FireGrid,
and rules replay. Each handler takes the resolved settings and the parsed arguments and
returns the exit code; bad input raises ``InputError`` (exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from firegrid.db import migrate
from firegrid.progress import progress
from firegrid.settings import Settings

if TYPE_CHECKING:
    from devices.flows import RegistryKind
    from devices.registry import Format
    from gateway.commands import CommandKind, ReadTarget
    from hazards.lifecycle import HazardRecord


class InputError(Exception):
    """Bad input from the user: exit 2 with a one-line reason."""


def resolve_and_migrate(settings: Settings) -> str:
    """Return the running FireGrid's database URL (``firegrid.instance.locate``), migrated."""
    from firegrid.services import resolve_db

    url = resolve_db(settings)
    migrate(url, storage=settings.storage)
    return url


def import_registry(settings: Settings, kind: RegistryKind, path: Path, *, dry_run: bool) -> int:
    """Run ``KIND import FILE [--dry-run]``; print the result the API answers, as JSON."""
    from devices.flows import parse_registry, store_registry, unreadable
    from firegrid.broker_auth import running_accounts
    from infra.dynsec import DynsecError

    suffix = path.suffix.lower()
    fmt: Format | None = None  # None: the parser sniffs the format
    if suffix == ".json":
        fmt = "json"
    elif suffix == ".csv":
        fmt = "csv"
    with progress(f"importing {kind} from {path.name}"):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        parsed = parse_registry(kind, data, fmt=fmt)
        if (whole := unreadable(parsed)) is not None:  # before any database is started
            raise InputError(f"{path}: {whole.message}")
        try:
            with psycopg.connect(resolve_and_migrate(settings)) as conn:
                result = store_registry(
                    conn,
                    kind=kind,
                    parsed=parsed,
                    dry_run=dry_run,
                    accounts=running_accounts(settings),
                )
        except DynsecError as exc:  # raised before the commit: nothing was imported
            print(f"firegrid: the broker refused the new credentials: {exc}", file=sys.stderr)
            return 1
    # The result the API answers; the credentials are shown here only (FireGrid keeps hashes).
    print(result.model_dump_json())
    # One line on stderr either way (CONTRACT §5: exit 2 comes with a one-line reason).
    shown = ""
    if result.credentials:
        shown = (
            f"{len(result.credentials)} new broker credential(s) above, shown this once; keep"
            " them (`firegrid devices credentials rotate ID` prints a new one)"
        )
    if result.rejected:
        # The rows' errors are in the JSON above; stderr says why the exit code is 2.
        refused = sorted({e.line for e in result.errors if e.line is not None})
        lines = ", ".join(str(n) for n in refused[:10])
        more = ", ..." if len(refused) > 10 else ""
        why = f"{path}: {result.rejected} row(s) refused (lines {lines}{more}), see errors"
        print(f"firegrid: {why}" + (f"; {shown}" if shown else ""), file=sys.stderr)
        return 2
    if shown:
        print(f"firegrid: {shown}", file=sys.stderr)
    return 0


def import_grids(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``grids import FILE [--replace]`` or ``grids retire CODE...``; print the summary."""
    from grids.exceptions import GridImportError
    from grids.flows import import_grid_file

    data: bytes | None = None
    if args.action == "import":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {args.file}: {exc.strerror}") from exc
    source = args.source or (args.file.name if data is not None else "firegrid grids retire")
    with progress(f"{args.action} grids"), psycopg.connect(resolve_and_migrate(settings)) as conn:
        try:
            summary = import_grid_file(
                conn,
                data=data,
                source=source,
                replace=args.action == "import" and args.replace,
                retire=args.codes if args.action == "retire" else (),
                effective=getattr(args, "effective_from", None),
            )
        except GridImportError as exc:
            where = f"{args.file}: " if data is not None else ""
            raise InputError(f"{where}{exc}") from exc
    print(summary.model_dump_json())
    return 0


def create_token_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list_tokens(settings)
    if args.action == "revoke":
        return _revoke_token(settings, args.token)
    from api.tokens import create_token, parse_expiry
    from devices.registry import AREA_CODE

    expires_at = None
    if args.expires is not None:
        try:
            expires_at = parse_expiry(args.expires, now=datetime.now(UTC))
        except ValueError as exc:
            raise InputError(f"--expires {exc}") from exc

    for area in args.area:
        # ASCII only: \d would also take full-width digits, which no stored code has.
        if not (area.isascii() and AREA_CODE.fullmatch(area)):
            raise InputError(
                f"--area {area!r}: not a county (6), street (9), community (12) or grid"
                " (14 or 15 digits) code"
            )
    if args.role == "operator" and not args.area:
        # CONTRACT §4: an operator sees only what lies inside its area codes; with none it
        # would see everything.
        raise InputError("an operator token needs --area CODE (repeatable)")
    with psycopg.connect(resolve_and_migrate(settings)) as conn:
        try:
            token = create_token(
                conn,
                role=args.role,
                areas=args.area,
                note=args.note,
                staff_id=args.staff,
                name=args.name,
                expires_at=expires_at,
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    print(token)
    return 0


def _list_tokens(settings: Settings) -> int:
    from api.tokens import list_tokens

    with psycopg.connect(resolve_and_migrate(settings)) as conn:
        tokens = list_tokens(conn)
    for info in tokens:
        # Only TokenInfo's fields: the secret is never stored, its hash never printed whole.
        print(json.dumps(dataclasses.asdict(info), default=str, ensure_ascii=False))
    return 0


def _revoke_token(settings: Settings, name_or_id: str) -> int:
    from api.tokens import revoke_token

    with psycopg.connect(resolve_and_migrate(settings)) as conn:
        if revoke_token(conn, name_or_id=name_or_id) == 0:
            raise InputError(f"no live token named or with ID {name_or_id!r}")
    print(json.dumps({"revoked": name_or_id}))
    return 0


def running_firegrid(settings: Settings) -> tuple[str, str]:
    """Return the database and broker URLs of a running FireGrid: configured, or embedded.

    Never starts the embedded services (``firegrid.instance.locate``): starting them on the
    data directory of a running ``firegrid up`` would take its servers for a crash's leftovers
    and stop them, and anywhere else they would be a FireGrid nobody watches.
    """
    from firegrid.instance import locate
    from firegrid.services import broker_reachable, embedded_default

    embedded_default(settings)  # both configured, or neither
    found = locate(settings)
    if found.mqtt_url is None:
        raise ConnectionError(f"no FireGrid broker in {found.data_dir}: is FireGrid running?")
    with psycopg.connect(found.db_url, connect_timeout=5) as conn:
        conn.execute("SELECT 1 FROM ingest_batches LIMIT 1")
    if not broker_reachable(found.mqtt_url):
        where = _without_password(found.mqtt_url)
        raise ConnectionError(f"no broker at {where}: is FireGrid running?")
    return found.db_url, found.mqtt_url


def _without_password(url: str) -> str:
    """Return ``url`` with the password of its user part masked (CONTRACT §5: never printed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"--{name}: not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise InputError(f"--{name}: needs a UTC offset, e.g. {text}Z")
    return value


def replay_command(settings: Settings, args: argparse.Namespace) -> int:
    from rules.flows import engine_config, replay
    from rules.replay import REGISTRY_NOTE
    from rules.rules_file import RuleFileError, load_rules

    start, end = _time(args.start, "from"), _time(args.end, "to")
    if end <= start:
        raise InputError("--to must be after --from")
    try:
        rule_set = load_rules(args.rules or settings.rules.path)
    except RuleFileError as exc:
        raise InputError(str(exc)) from exc
    hazards = replay(
        db_url=resolve_and_migrate(settings),
        start=start,
        end=end,
        rules=rule_set,
        config=engine_config(settings.rules),
        silence_every_s=settings.rules.silence_every_s,
        daily_every_s=settings.rules.daily_every_s,
    )
    print(f"note: {REGISTRY_NOTE}", file=sys.stderr)
    for h in hazards:
        print(json.dumps(replay_line(h), ensure_ascii=False))
    return 0


def replay_rejected_command(settings: Settings, args: argparse.Namespace) -> int:
    """Replay stored rejections through ingest; print what was stored as one JSON object."""
    from firegrid.instance import locate
    from ingest.rejected_replay import REGISTRY_REASONS, replay_stored

    since = _time(args.since, "since") if args.since else None
    found = locate(settings)  # photos go to the running FireGrid's data directory
    migrate(found.db_url, storage=settings.storage)
    outcome = replay_stored(
        found.db_url,
        settings=settings.ingest,
        storage=settings.storage,
        data_dir=found.data_dir,
        reasons=args.reason or REGISTRY_REASONS,
        since=since,
    )
    summary = {k: v for k, v in vars(outcome).items() if k != "batches"}
    print(json.dumps(summary))
    return 0


def replay_line(h: HazardRecord) -> dict[str, Any]:
    """Return one replayed hazard as a JSON object (times ISO 8601 UTC, device time)."""

    def iso(ms: int | None) -> str | None:
        if ms is None:
            return None
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()

    return {
        "rule": h.rule_id,
        "kind": h.kind,
        "key": h.key,
        "subject": {"type": h.subject_type, "id": h.subject_id},
        "episode": h.episode,
        "severity": h.severity.value,
        "status": h.status,
        "opened_at": iso(h.opened_at),
        "cleared_at": iso(h.cleared_at),
        "occurrences": h.occurrences,
        "last_value": h.last_value,
        "flapping": h.flapping,
        "detail": h.detail,
    }


def _read_target(kind: CommandKind, args: argparse.Namespace) -> ReadTarget | None:
    """Return what a read names from the options (None for the other kinds), or refuse them."""
    from pydantic import ValidationError

    from gateway.commands import ReadTarget, check_target

    if not kind.is_read:
        return None
    try:
        target = ReadTarget(
            system_type=args.system_type,
            system_address=args.system_address,
            zone=args.zone,
            position=args.position,
        )
        check_target(kind, target)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    except ValueError as exc:
        raise InputError(str(exc).replace("target.", "--")) from None
    return target


def gateway_command(settings: Settings, args: argparse.Namespace) -> int:
    """Store a command for the gateway (``command``) or list a device's (``commands``)."""
    from gateway.command_service import list_commands, request_command
    from gateway.commands import CommandKind
    from gateway.exceptions import CommandTargetError

    with psycopg.connect(resolve_and_migrate(settings)) as conn:
        if args.action == "commands":
            for command in list_commands(conn, device_id=args.device_id, limit=1000):
                print(command.model_dump_json())
            return 0
        if not 1 <= args.answer_within_min <= 255:
            raise InputError("--answer-within-min must be 1..255")
        kind = CommandKind(args.kind)
        target = _read_target(kind, args)
        try:
            stored = request_command(
                conn,
                device_id=args.device_id,
                kind=kind,
                by="cli",
                answer_within_min=args.answer_within_min,
                target=target,
            )
        except CommandTargetError as exc:
            raise InputError(str(exc)) from exc
    print(stored.model_dump_json())
    return 0
