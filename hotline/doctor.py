"""`hotline doctor`: what is ready, what is missing, and the fix for each.

Each area may contribute checks with a module-level ``doctor_checks(settings) -> list[Check]`` in
``<area>/doctor.py``; the core checks configuration, the database and Asterisk reachability itself.
"""

from __future__ import annotations

import importlib
import shutil
import socket
from dataclasses import dataclass

from hotline.config import Settings

AREA_CHECKS = ("kb.doctor", "speech.doctor", "ivr.doctor", "booking.doctor")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | missing
    detail: str
    fix: str = ""


def check_database(settings: Settings) -> Check:
    from sqlalchemy.exc import SQLAlchemyError

    from hotline.db import current_revision, head_revision, make_engine

    url = settings.masked()["effective_database_url"]
    try:
        engine = make_engine(settings.effective_database_url)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError, ModuleNotFoundError) as exc:
        return Check("database", "missing", f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                     "check HOTLINE_DATABASE_URL; for PostgreSQL: pip install '.[postgres]'")
    head = head_revision()
    if revision != head:
        return Check("database", "missing", f"{url}: revision {revision or 'empty'}, code expects {head}",
                     "hotline db upgrade")
    return Check("database", "ok", f"{url} at revision {head}")


def check_tcp(name: str, host: str, port: int, fix: str) -> Check:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return Check(name, "ok", f"{host}:{port} reachable")
    except OSError as exc:
        return Check(name, "warn", f"{host}:{port} not reachable ({exc.strerror or exc})", fix)


def check_tools() -> list[Check]:
    out = []
    for tool, package, why in (
        ("espeak-ng", "espeak-ng", "light fallback voice"),
        ("sipp", "sip-tester", "test caller for the Asterisk sandbox"),
        ("debootstrap", "debootstrap", "builds the Asterisk 22 sandbox"),
    ):
        found = shutil.which(tool)
        out.append(Check(f"tool {tool}", "ok" if found else "warn", found or f"not installed ({why})",
                         "" if found else f"apt-get install -y {package}"))
    return out


def collect(settings: Settings) -> list[Check]:
    checks = [Check("configuration", "ok", "settings valid"), check_database(settings)]
    for name in AREA_CHECKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                checks.append(Check(name.split(".")[0], "missing", str(exc), "pip install -e '.[speech]'"))
            continue
        try:
            checks.extend(module.doctor_checks(settings))
        except Exception as exc:  # a broken check must not hide the others
            checks.append(Check(name, "missing", f"check failed: {type(exc).__name__}: {exc}"))
    checks.append(check_tcp("asterisk AMI", settings.ami_host, settings.ami_port,
                            "start Asterisk (scripts/asterisk-sandbox start) or set HOTLINE_AMI_HOST/PORT"))
    checks.extend(check_tools())
    return checks


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_doctor(settings: Settings, *, show_config: bool = True) -> int:
    """Print the configuration and the checks; exit 1 when something required is missing."""
    if show_config:
        print("Effective configuration (secrets masked):")
        print(_table([("setting", "value"), *sorted(settings.masked().items())]))
        print()
    checks = collect(settings)
    marks = {"ok": "OK", "warn": "WARN", "missing": "MISSING"}
    print(_table([("check", "status", "detail", "fix"),
                  *((c.name, marks[c.status], c.detail, c.fix) for c in checks)]))
    return 1 if any(c.status == "missing" for c in checks) else 0
