"""`hotline asterisk prompts`: render the prompts Asterisk plays itself with our voice (see ivr.asterisk_prompts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hotline.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    asterisk = sub.add_parser("asterisk", help="files for Asterisk: prompts in our voice")
    cmds = asterisk.add_subparsers(dest="asterisk_command", required=True)
    p = cmds.add_parser("prompts", help="render dialplans/sounds/hotline-prompts.tsv to 8 kHz WAV files")
    p.add_argument("--sounds-dir", type=Path, help="output dir (default: <var_dir>/asterisk-sounds); "
                   "copy its tree into Asterisk's sounds dir")
    p.add_argument("--force", action="store_true", help="re-render every prompt, changed or not")
    p.set_defaults(func=_cmd_prompts)


def _cmd_prompts(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk_prompts import render_for_settings

    target, report = render_for_settings(settings, args.sounds_dir, force=args.force)
    print(f"{target}: {len(report.rendered)} rendered, {len(report.unchanged)} unchanged"
          + (f", {len(report.fallback)} in the fallback voice" if report.fallback else ""))
    return 0
