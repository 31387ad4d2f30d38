"""Readiness checks: the ``Check`` each area's ``doctor_checks(settings)`` returns, and the shared ones (database
revision, a TCP port, Debian tools). ``hotline doctor`` (cli/doctor.py) runs them all."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass

from hotline.config import Settings


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


