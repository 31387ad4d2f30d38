"""A throw-away real PostgreSQL server (Debian's `postgresql` package) for tests and benchmarks.

initdb + pg_ctl on a temporary directory, listening on 127.0.0.1 at a free port. PostgreSQL refuses to run as
root, so when we are root the server runs as the `postgres` system user the Debian package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from hotline.errors import HotlineError
from scripts.ports import free_port


class PostgresUnavailable(HotlineError):
    """No PostgreSQL server binaries; the message says which Debian package to install."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise PostgresUnavailable("PostgreSQL server not installed: apt-get install -y postgresql")
    return Path(found[-1]).parent


class TemporaryPostgres:
    """``with TemporaryPostgres() as pg: pg.url("dbname")``; the cluster is deleted on exit."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.datadir = self.root / "data"
        self._as_user: str | None = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_user:
            cmd = ["runuser", "-u", self._as_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise HotlineError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> TemporaryPostgres:
        if self._as_user:
            try:
                ids = pwd.getpwnam(self._as_user)
            except KeyError:
                raise PostgresUnavailable("no 'postgres' user: apt-get install -y postgresql") from None
            os.chown(self.root, ids.pw_uid, ids.pw_gid)
        self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "hotline", "-E", "UTF8", "--no-sync")
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server abruptly but keep its data: a database outage. ``resume()`` ends it."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    def resume(self) -> None:
        """Start the server (again) on the same port and data directory."""
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "hotline", name)
        return self.url(name)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://hotline@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        try:
            if self.datadir.exists():
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
