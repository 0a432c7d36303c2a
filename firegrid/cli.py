"""The ``firegrid`` command (CONTRACT §5). Exit codes: 0 ok, 2 usage or input, 1 anything else."""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError
from pydantic_settings import SettingsError

from firegrid.cli_commands import (
    InputError,
    create_token_command,
    gateway_command,
    import_grids,
    import_registry,
    replay_command,
    replay_rejected_command,
)
from firegrid.cli_credentials import add_credentials_commands, credentials_command
from firegrid.db import SchemaTooNew, migrate
from firegrid.instance import NotRunningError
from firegrid.role_names import BUILT_ROLES, RoleError, check_role
from firegrid.runtime import run
from firegrid.services import (
    AlreadyRunningError,
    BrokerPortTakenError,
    HalfConfiguredError,
    embedded_default,
)
from firegrid.settings import Settings


class _Parser(argparse.ArgumentParser):
    """argparse with CONTRACT §5's usage error: exit 2 and ONE line on stderr, not the usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: message (see prog --help)`` on one line and exit 2."""
        reason = " ".join(message.split())
        self.exit(2, f"{self.prog}: {reason} (see {self.prog} --help)\n")


def _role(name: str) -> str:
    # A type, not choices: argparse then says why a role is refused (unknown, or not built yet)
    # in its one usage line, before anything starts.
    try:
        return check_role(name)
    except RoleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_token_commands(sub: Any) -> None:
    """Add ``token create|list|revoke``."""
    token = sub.add_parser("token", help="API tokens")
    token_actions = token.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True)
    create.add_argument(
        "--area",
        action="append",
        default=[],
        help="street, community or grid code (repeatable); an operator needs one; none: all",
    )
    create.add_argument("--note", default="")
    create.add_argument(
        "--staff", default=None, help="staff ID the token acts as (needed to act on cases)"
    )
    create.add_argument("--name", default=None, help="name to list and revoke it by (unique)")
    create.add_argument("--expires", default=None, help="7d, 12h, 30m or an ISO time; none: never")
    token_actions.add_parser("list", help="list the tokens (never their secrets), JSON lines")
    revoke = token_actions.add_parser("revoke", help="revoke a token by name or ID, at once")
    revoke.add_argument("token", metavar="NAME|ID")


def _add_grid_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    grids = sub.add_parser("grids", help="grid versions")
    grid_actions = grids.add_subparsers(dest="action", required=True)
    grid_import = grid_actions.add_parser(
        "import", help="merge GeoJSON into a new grid version (by code; the others are kept)"
    )
    grid_import.add_argument("file", type=Path)
    grid_import.add_argument("--source", help="name recorded with the version (default: FILE)")
    grid_import.add_argument(
        "--replace", action="store_true", help="the file is the whole new set: retire the rest"
    )
    grid_import.add_argument(
        "--effective-from",
        metavar="YYYY-MM-DD",
        help="China day the grids it adds were in force since (patrols judged from then)",
    )
    grid_retire = grid_actions.add_parser(
        "retire", help="new grid version without these areas (and everything under them)"
    )
    grid_retire.add_argument("codes", nargs="+", metavar="CODE")
    grid_retire.add_argument("--source", help="name recorded with the version")


def _add_gateway_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    gateway = sub.add_parser("gateway", help="commands to GB/T 26875.3 transmission devices")
    gateway_actions = gateway.add_subparsers(dest="action", required=True)
    ask = gateway_actions.add_parser(
        "command", help="ask the gateway to send a duty check (查岗), a clock sync or a read"
    )
    ask.add_argument("device_id")
    ask.add_argument(
        "kind", choices=["duty_check", "clock_sync", "read_system_status", "read_part_status"]
    )
    ask.add_argument("--answer-within-min", type=int, default=10, help="duty check: minutes")
    ask.add_argument("--system-type", type=int, default=1, help="reads: system type (1: fire)")
    ask.add_argument("--system-address", type=int, default=1, help="reads: system address")
    ask.add_argument("--zone", type=int, help="read_part_status: the part's zone")
    ask.add_argument("--position", type=int, help="read_part_status: the part's position")
    listing = gateway_actions.add_parser("commands", help="a device's commands, JSON lines")
    listing.add_argument("device_id")


def _parser() -> argparse.ArgumentParser:
    # Subparsers are made of the parent's class, so every level answers in one line.
    parser = _Parser(prog="firegrid", description=__doc__)
    parser.add_argument("--db-url", help="libpq URL (default: FIREGRID_DB_URL or embedded)")
    parser.add_argument("--mqtt-url", help="mqtt://... (default: FIREGRID_MQTT_URL or embedded)")
    parser.add_argument("--http", help="host:port for the API (default 127.0.0.1:8080)")
    parser.add_argument("--data-dir", type=Path, help="photos and embedded services")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run FireGrid")
    up.add_argument(
        "--role",
        action="append",
        type=_role,
        help=f"run only this role (repeatable): {', '.join(BUILT_ROLES)}; default: all",
    )
    sim = up.add_mutually_exclusive_group()
    sim.add_argument(
        "--simulate",
        dest="simulate",
        action="store_true",
        default=None,
        help="run demo simulators (default on the embedded services, refused elsewhere)",
    )
    sim.add_argument("--no-simulate", dest="simulate", action="store_false")

    for name in ("devices", "units", "staff"):
        registry = sub.add_parser(name, help=f"{name} registry")
        actions = registry.add_subparsers(dest="action", required=True)
        imp = actions.add_parser(
            "import", help="import CSV (UTF-8 or GB 18030/GBK) or a JSON array"
        )
        imp.add_argument("file", type=Path)
        imp.add_argument("--dry-run", action="store_true", help="validate and count; write nothing")
        if name == "devices":
            add_credentials_commands(actions)

    _add_grid_commands(sub)
    _add_token_commands(sub)

    sub.add_parser("migrate", help="apply schema migrations and exit")

    simulate = sub.add_parser(
        "simulate", help="run a scenario's simulators against a running FireGrid"
    )
    simulate.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    simulate.add_argument("--list", action="store_true", help="list the scenarios and exit")
    simulate.add_argument(
        "--all",
        action="store_true",
        help="run every scenario, side by side; exit 1 at the first failure",
    )
    simulate.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="pace by device time, X times real time; 0: at once",
    )
    simulate.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="seconds to watch for the hazards after the data is sent, beyond what FireGrid's"
        " clocks need (silence and daily looks, case deadlines); 0: do not watch",
    )
    simulate.add_argument(
        "--no-grids",
        dest="grids",
        action="store_false",
        help="do not import the scenario's grids (they would become the current version)",
    )

    rules = sub.add_parser("rules", help="rules engine")
    rules_actions = rules.add_subparsers(dest="action", required=True)
    rp = rules_actions.add_parser(
        "replay", help="print the hazards a rule set would have raised (JSON lines); no writes"
    )
    rp.add_argument("--from", dest="start", required=True, help="ISO 8601 time with an offset")
    rp.add_argument("--to", dest="end", required=True, help="ISO 8601 time with an offset")
    rp.add_argument("--rules", type=Path, help="rules file (default: the configured one)")

    rejected = sub.add_parser("rejected", help="the rejected-messages store")
    rejected_actions = rejected.add_subparsers(dest="action", required=True)
    rr = rejected_actions.add_parser(
        "replay",
        help="feed stored rejections through ingest again (after importing their devices)",
    )
    rr.add_argument(
        "--reason",
        action="append",
        help="rejection reason to replay (repeatable); default: unknown_device, unknown_terminal",
    )
    rr.add_argument("--since", help="only rejections received at or after this ISO 8601 time")

    _add_gateway_commands(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.db_url:
        overrides["db_url"] = args.db_url
    if args.mqtt_url:
        overrides["mqtt_url"] = args.mqtt_url
    if args.http:
        overrides["http"] = args.http
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code."""
    # Line by line even into a file or a pipe (systemd, nohup, a log): `firegrid up` prints the
    # data directory, broker, token and API address, and then runs for days; block-buffered,
    # those lines would appear late or never.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _command(_settings(args), args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"firegrid: setting {where}: {first['msg']}", file=sys.stderr)
        return 2
    except (InputError, SettingsError, HalfConfiguredError) as exc:
        print(f"firegrid: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except (SchemaTooNew, AlreadyRunningError, BrokerPortTakenError, NotRunningError) as exc:
        print(f"firegrid: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C on a long command (an import, a simulation): one line, the shell's code for
        # SIGINT, no traceback. `up` handles SIGINT itself and returns 0 after a clean stop.
        print("firegrid: interrupted", file=sys.stderr)
        return 130


def _command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "up":
        return _up(settings, args)
    if args.command in {"devices", "units", "staff"}:
        return _registry(settings, args)
    if args.command == "grids":
        return import_grids(settings, args)
    # Imported here: rich's tables are for `simulate` only, and every command starts faster
    # without them (a Ctrl-C during a slow start would end in an import's traceback).
    from firegrid.simulate_command import simulate_command

    handlers = {
        "token": create_token_command,
        "simulate": simulate_command,
        "rules": replay_command,
        "rejected": replay_rejected_command,
        "gateway": gateway_command,
    }
    if args.command in handlers:
        return handlers[args.command](settings, args)
    if args.command == "migrate":
        from firegrid.services import resolve_db

        version = migrate(resolve_db(settings), storage=settings.storage)
        print(f"schema at version {version}")
        return 0
    return 1


def _registry(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "credentials":
        return credentials_command(settings, args)
    return import_registry(settings, args.command, args.file, dry_run=args.dry_run)


def _up(settings: Settings, args: argparse.Namespace) -> int:
    # Every refusal comes before run(): nothing is started, migrated or written.
    embedded = embedded_default(settings)
    if args.simulate and not embedded:
        raise InputError(
            "--simulate registers demo devices, units, staff and grids, so it runs only on the"
            " embedded services (FIREGRID_DB_URL and FIREGRID_MQTT_URL unset)"
        )
    if args.role and "gateway" in args.role and not settings.gb26875:
        raise InputError("role gateway needs FIREGRID_GB26875=host:port (where it listens)")
    print(f"data directory: {settings.data_dir}")
    return run(settings, roles=args.role or list(BUILT_ROLES), simulate=args.simulate)


if __name__ == "__main__":
    sys.exit(main())
