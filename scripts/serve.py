"""A `hotline serve --no-admin` subprocess beside a sandbox Asterisk, for the tests and benchmarks that place real
calls: its environment (pointed at the sandbox's ports and AMI secret), its database and KB, its start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.sandbox import Sandbox

HOTLINE = [sys.executable, "-m", "cli"]


def serve_env(sb: Sandbox, var_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its HOTLINE_* settings, plus what the IVR needs to serve ``sb``;
    ``extra`` (HOTLINE_PRERENDER_ANSWERS, HOTLINE_AGENT_WAIT_S ...) last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_VAR_DIR": str(var_dir),
        "HOTLINE_AGI_PORT": str(sb.agi_port),
        "HOTLINE_AUDIOSOCKET_PORT": str(sb.audiosocket_port),
        "HOTLINE_AMI_PORT": str(sb.ami_port),
        "HOTLINE_AMI_USER": sb.ami_user,
        "HOTLINE_AMI_SECRET": sb.ami_secret,
        "HOTLINE_STAFFED_HOURS": sb.staffed_hours,
        "HOTLINE_RECORDING_DIR": str(sb.host_path(sb.recording_dir_in)),  # where this Asterisk records
        # Rendered fixed prompts survive between runs (keyed by text hash), so start-up stays quick.
        "HOTLINE_PROMPT_CACHE_DIR": str(sb.root.parent / "ivr-prompt-cache"),
        "PYTHONUNBUFFERED": "1",  # the log shows "IVR ready" as soon as it is
    })
    env.update(extra)
    return env


def prepare_serve(env: dict[str, str], workdir: Path) -> None:
    """The database schema and the knowledge base the IVR answers from."""
    for step in (["db", "upgrade"], ["kb", "import"]):
        subprocess.run(HOTLINE + step, env=env, cwd=workdir, check=True, capture_output=True)


def start_serve(env: dict[str, str], workdir: Path, timeout: float = 180) -> subprocess.Popen[bytes]:
    """`hotline serve --no-admin` logging to ``workdir/serve.log``, returned once connected to AMI and ready for
    calls; SystemExit with the log's tail if it exits or is not ready within ``timeout`` s."""
    log = workdir / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(HOTLINE + ["serve", "--no-admin"], env=env, cwd=workdir, stdout=out,
                                 stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while "AMI connected" not in (text := log.read_text(errors="replace")) or "IVR ready" not in text:
        if serve.poll() is not None or time.monotonic() > deadline:
            serve.kill()
            serve.wait()
            raise SystemExit(f"hotline serve did not start:\n{text[-2000:]}")
        time.sleep(0.2)
    return serve


def stop_serve(serve: subprocess.Popen[bytes] | None) -> None:
    """Stop it as Ctrl-C would: open calls closed, the log flushed."""
    if serve is not None:
        serve.send_signal(signal.SIGINT)
        serve.wait(30)
