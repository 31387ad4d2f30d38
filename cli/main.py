"""The `hotline` command: the shared subcommands here, and each area's own through ``<area>.commands.register``."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Sequence

from admin import commands as admin_commands
from booking import commands as booking_commands
from hotline.config import Settings, SettingsError, load_settings
from hotline.errors import HotlineError
from hotline.logsetup import setup_logging
from ivr import asterisk_commands
from ivr import commands as ivr_commands
from kb import commands as kb_commands
from speech import commands as speech_commands

Handler = Callable[[argparse.Namespace, Settings], int]

# Areas that contribute subcommands; each module exposes register(subparsers).
AREAS = (kb_commands, ivr_commands, asterisk_commands, booking_commands, admin_commands)


def _knowledge(settings: Settings):  # noqa: ANN202 - kb.reloader.KnowledgeReloader
    """The KB as the IVR answers now (the database, or the sample files before the first import)."""
    from kb.reloader import KnowledgeReloader

    return KnowledgeReloader.from_url(settings.effective_database_url, meaning_cache=settings.meaning_cache)


def _cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.db import upgrade

    upgrade(settings.effective_database_url, args.revision)
    print(f"database at {settings.masked()['effective_database_url']} is at revision {args.revision}")
    return 0


def _cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.users import create_user

    password = args.password or secrets.token_urlsafe(12)
    create_user(settings, args.name, args.role, password, exist_ok=args.exist_ok)
    if not args.password:
        print(f"user {args.name} ({args.role}) password: {password}")
    else:
        print(f"user {args.name} ({args.role}) saved")
    return 0


def _cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from cli.doctor import run_doctor

    return run_doctor(settings, show_config=not args.quiet)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None and not args.no_ivr:
        from cli.workers import serve_workers

        return serve_workers(settings, args.workers, with_admin=not args.no_admin, config=args.config)
    from cli.serve import serve

    return serve(settings, with_admin=not args.no_admin, with_ivr=not args.no_ivr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="86909000 政务服务热线语音 IVR")
    parser.add_argument("--config", help="TOML settings file (also HOTLINE_CONFIG)")
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="start the IVR servers (AudioSocket, FastAGI, AMI client) and the admin panel")
    p.add_argument("--no-admin", action="store_true", help="do not start the admin panel")
    p.add_argument("--no-ivr", action="store_true", help="do not start the IVR servers")
    p.add_argument("--workers", type=int, metavar="N",
                   help="N supervised IVR processes (restarted when they die) on ports AGI_PORT+i / "
                        "AUDIOSOCKET_PORT+i, one per core; see cli/workers.py")
    p.set_defaults(func=_cmd_serve)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply Alembic migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_cmd_db_upgrade)

    admin = sub.add_parser("admin", help="panel users").add_subparsers(dest="admin_command", required=True)
    p = admin.add_parser("create-user", help="create or update a panel user")
    p.add_argument("name")
    p.add_argument("--role", choices=("admin", "agent"), required=True)
    p.add_argument("--password", help="password (default: generate and print one)")
    p.add_argument("--exist-ok", action="store_true", help="keep an existing user unchanged instead of failing")
    p.set_defaults(func=_cmd_create_user)

    p = sub.add_parser("doctor", help="check configuration, database, speech models and Asterisk")
    p.add_argument("--quiet", action="store_true", help="omit the effective configuration table")
    p.set_defaults(func=_cmd_doctor)

    for area in AREAS:
        area.register(sub)
    speech_commands.register(sub, knowledge=_knowledge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging("json" if args.log_json else settings.log_format, settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
