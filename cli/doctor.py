"""`hotline doctor`: what is ready, what is missing, and the fix for each.

Each area may contribute checks with a module-level ``doctor_checks(settings) -> list[Check]`` in
``<area>/doctor.py``; the shared checks (configuration, database, Asterisk reachability, tools) are in
hotline/checks.py.
"""

from __future__ import annotations

from booking import doctor as booking_doctor
from hotline.checks import Check, check_database, check_tcp, check_tools
from hotline.config import Settings
from speech import doctor as speech_doctor

AREA_CHECKS = (speech_doctor, booking_doctor)


def collect(settings: Settings) -> list[Check]:
    checks = [Check("configuration", "ok", "settings valid"), check_database(settings)]
    for area in AREA_CHECKS:
        try:
            checks.extend(area.doctor_checks(settings))
        except Exception as exc:  # a broken check must not hide the others
            checks.append(Check(area.__name__, "missing", f"check failed: {type(exc).__name__}: {exc}"))
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
