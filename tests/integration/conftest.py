"""Callers for the session's real Asterisk (the ``asterisk`` fixture lives in tests/conftest.py: one instance for
every package that needs it)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.ports import free_port
from scripts.sandbox import Sandbox

SIPP_DIR = Path(__file__).with_name("sipp")


@dataclass(frozen=True)
class Caller:
    """Runs sipp against the sandbox as a caller dialling 86909000."""

    sandbox: Sandbox
    workdir: Path

    def wav(self, seconds: float = 2.0, freq: int = 440) -> Path:
        path = self.workdir / "caller.wav"
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path), "synth", str(seconds), "sine", str(freq)],
            check=True,
        )
        return path

    def command(self, scenario: str = "uac_rtp.xml", number: str = "86909000", caller: str = "13800138000",
                extra: tuple[str, ...] = ()) -> list[str]:
        sn = ["-sn", "uac"] if scenario == "uac" else ["-sf", str(SIPP_DIR / scenario)]
        return [
            "sipp", *sn, "-s", number, "-key", "caller", caller,
            f"127.0.0.1:{self.sandbox.sip_port}", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
            "-m", "1", "-nostdin", "-timeout", "60", "-timeout_error", *extra,
        ]


@pytest.fixture
def caller(asterisk: Sandbox, tmp_path: Path) -> Caller:
    return Caller(asterisk, tmp_path)
