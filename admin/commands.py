"""`hotline dashboard-rollup`: store finished dashboard days (also run in the background by `hotline serve`)."""

from __future__ import annotations

import argparse

from hotline.config import Settings


def _cmd_rollup(args: argparse.Namespace, settings: Settings) -> int:
    from admin.rollup import run_rollup

    print(f"dashboard: stored {run_rollup(settings)} finished day(s)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard-rollup", help="store finished days for the admin dashboard (fast first view)")
    p.set_defaults(func=_cmd_rollup)
