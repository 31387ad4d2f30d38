"""`hotline serve --workers N`: N IVR processes on one machine, and one admin panel.

Python runs one core per process, and a call's speech recognition is CPU-bound, so a machine with N cores runs N
IVR workers. Worker ``i`` (0-based) listens on FastAGI ``agi_port + i`` and AudioSocket ``audiosocket_port + i``;
each Asterisk node's dialplan spreads calls over them (``IVR_WORKERS``, printed at start) and skips a worker that
refuses. Workers share the database (PostgreSQL in production: call rows, turns, queue context, callbacks and
bookings outlive any worker), the prompt cache and the recordings; each has its own var dir
``<var_dir>/workers/<i>`` for its call-log spool (so two processes never append to one file) and its pid file.

A worker that exits (crash, ``kill -9``, out of memory) is started again after a pause that grows while it keeps
failing; on start it closes the rows it left open as ``failed_over`` (``CallLog.recover`` with its worker id).
SIGINT/SIGTERM stop every worker (each closes its live rows), then the admin panel.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hotline.config import Settings

log = logging.getLogger("cli.workers")

RESTART_PAUSE_S = (0.5, 30.0)  # first pause after a worker exits, and the most it grows to
STOP_GRACE_S = 30.0


@dataclass
class Worker:
    index: int
    agi_port: int
    audiosocket_port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    pause_s: float = RESTART_PAUSE_S[0]
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    @property
    def address(self) -> str:
        """As the dialplan's IVR_WORKERS lists it: host:agi_port:audiosocket_port."""
        return f"{self.env['HOTLINE_BIND_HOST']}:{self.agi_port}:{self.audiosocket_port}"


def worker_envs(settings: Settings, count: int, base_env: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The environment of each worker: its ports and var dir; everything it shares with the others made explicit."""
    base = dict(os.environ if base_env is None else base_env)
    var = Path(settings.var_dir).resolve()
    shared = {
        "HOTLINE_DATABASE_URL": settings.effective_database_url,
        "HOTLINE_PROMPT_CACHE_DIR": str(Path(settings.prompt_cache_dir).resolve()),
        "HOTLINE_RECORDING_DIR": str(Path(settings.recording_dir).resolve()),
        "HOTLINE_BIND_HOST": settings.bind_host,
        "PYTHONUNBUFFERED": "1",
    }
    return [{**base, **shared,
             "HOTLINE_VAR_DIR": str(var / "workers" / str(i)),
             "HOTLINE_AGI_PORT": str(settings.agi_port + i),
             "HOTLINE_AUDIOSOCKET_PORT": str(settings.audiosocket_port + i)} for i in range(count)]


def ivr_workers_value(workers: list[Worker]) -> str:
    """The dialplan's [globals] IVR_WORKERS for these workers."""
    return "&".join(w.address for w in workers)


class Supervisor:
    """Starts the workers, restarts the ones that exit, stops them all on request."""

    def __init__(self, settings: Settings, count: int, config: str | None = None,
                 base_env: dict[str, str] | None = None) -> None:
        if count < 1:
            raise ValueError("--workers needs at least 1")
        self.settings = settings
        self.config = config
        self.stopping = threading.Event()
        self.workers = [Worker(i, settings.agi_port + i, settings.audiosocket_port + i, env)
                        for i, env in enumerate(worker_envs(settings, count, base_env))]

    def _spawn(self, w: Worker) -> None:
        Path(w.env["HOTLINE_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "cli", *(["--config", self.config] if self.config else []), "serve", "--no-admin"]
        w.proc = subprocess.Popen(cmd, env=w.env)
        w.started_at = time.monotonic()
        (Path(w.env["HOTLINE_VAR_DIR"]) / "worker.pid").write_text(f"{w.proc.pid}\n")  # for operators and tests
        log.info("IVR worker %d started, pid %d, %s", w.index, w.proc.pid, w.address)

    def start(self) -> None:
        if self.settings.effective_database_url.startswith("sqlite"):
            log.warning("several IVR workers on SQLite: writes queue on one file lock; use PostgreSQL "
                        "(HOTLINE_DATABASE_URL) for a centre")
        for w in self.workers:
            self._spawn(w)

    def poll(self) -> None:
        """Restart workers that exited; called about twice a second."""
        now = time.monotonic()
        for w in self.workers:
            if w.proc is None or w.proc.poll() is None or self.stopping.is_set():
                continue
            if not w.next_start:
                lived = now - w.started_at
                # A worker that ran a while was healthy: restart at once; one that keeps dying waits longer.
                w.pause_s = RESTART_PAUSE_S[0] if lived > 60 else min(w.pause_s * 2, RESTART_PAUSE_S[1])
                w.next_start = now + w.pause_s
                log.error("IVR worker %d (pid %d) exited with %s; restarting in %.1f s (Asterisk skips it meanwhile)",
                          w.index, w.proc.pid, w.proc.returncode, w.pause_s)
            elif now >= w.next_start:
                w.next_start = 0.0
                w.restarts += 1
                self._spawn(w)

    def stop(self) -> None:
        self.stopping.set()
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for w in self.workers:
            if w.proc is None:
                continue
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("IVR worker %d did not stop in %.0f s; killing it", w.index, STOP_GRACE_S)
                w.proc.kill()
                w.proc.wait()


def serve_workers(settings: Settings, count: int, *, with_admin: bool = True, config: str | None = None) -> int:
    """Run ``count`` IVR workers (and the admin panel here) until SIGINT/SIGTERM."""
    from cli.serve import _start_admin

    sup = Supervisor(settings, count, config)
    wake = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        sup.stopping.set()
        wake.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    admin_server = _start_admin(settings) if with_admin else None
    sup.start()
    print(f"IVR workers     {count}; dialplan IVR_WORKERS = {ivr_workers_value(sup.workers)}", flush=True)
    try:
        while not sup.stopping.is_set():
            sup.poll()
            wake.wait(0.5)
    finally:
        sup.stop()
        if admin_server is not None:
            admin_server.close()
        log.info("stopped")
    return 0
