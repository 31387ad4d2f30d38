"""The hotline beyond one box, on 127.0.0.1: Kamailio → two Asterisk nodes → IVR workers → one PostgreSQL.

    scripts/cluster start [--workers N] [--dir DIR]     # prints where everything listens; Ctrl-C stops it all
    sipp -sn uac -s 86909000 127.0.0.1:5060 -i 127.0.0.1 -p 5071 -m 10 -d 5000

What runs (every part is the real engine; each node is a sandbox instance from the same chroot):
- PostgreSQL (``scripts/pgserver.py``, a throw-away cluster) unless ``--database-url`` names one; migrated, KB imported.
- Asterisk nodes ``<name>-ast1`` / ``<name>-ast2`` with our dialplans, each listing every IVR worker in
  ``IVR_WORKERS`` so a call may land on any worker and skips one that refuses.
- The workers as two ``hotline serve --workers K`` groups, one beside each node (its AMI watches that node); the
  first group also serves the admin panel, which reads every node's and worker's calls from the shared database.
- Kamailio (``dialplans/kamailio/kamailio.cfg``) with the dispatcher list of both nodes, probing them with OPTIONS.

Used by ``tests/integration/test_cluster.py`` and ``benchmarks/cluster_bench.py`` through :class:`Cluster`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts.pgserver import TemporaryPostgres
from scripts.ports import free_port
from scripts.sandbox import Sandbox, SandboxError, build, install_config
from scripts.sandbox import start as start_asterisk
from scripts.sandbox import stop as stop_asterisk

REPO = Path(__file__).resolve().parent.parent
KAMAILIO_CFG = REPO / "dialplans" / "kamailio" / "kamailio.cfg"


class ClusterError(SandboxError):
    """A part of the cluster did not start; the message says which and where its log is."""


def _free_block(count: int, lo: int = 20000, hi: int = 29000) -> int:
    """The first port of ``count`` consecutive free TCP ports (workers listen on base+i)."""
    for base in range(lo + os.getpid() % 500 * 10, hi, count + 3):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise ClusterError(f"no {count} consecutive free ports between {lo} and {hi}")


def _wait_for(predicate, timeout: float, what: str, log: Path | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log and log.exists() else ""
            raise ClusterError(f"{what} not ready in {timeout:g} s" + (f"; {log}:\n{tail}" if log else ""))
        time.sleep(0.2)


@dataclass
class Group:
    """One `hotline serve --workers K` beside one Asterisk node."""

    node: int
    count: int
    agi_base: int
    audiosocket_base: int
    var_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def worker_pid(self, i: int) -> int:
        return int((self.var_dir / "workers" / str(i) / "worker.pid").read_text())

    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{self.agi_base + i}:{self.audiosocket_base + i}" for i in range(self.count)]


@dataclass
class Cluster:
    workdir: Path
    workers: int = 2
    name: str = "cluster"
    kamailio_port: int = 5060
    node_sip_ports: tuple[int, int] = (5070, 5080)
    node_ami_ports: tuple[int, int] = (5038, 5039)
    agi_port: int = 4573
    audiosocket_port: int = 9092
    admin_port: int = 8080
    database_url: str = ""  # empty: a throw-away PostgreSQL
    staffed_hours: str = "08:00-20:00"
    agent_wait_s: int = 60
    sandbox_root: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra HOTLINE_* for the workers (TTS engine...)
    nodes: list[Sandbox] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    pg: TemporaryPostgres | None = None
    kamailio: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_ports(cls, workdir: Path, workers: int = 2, **kw: object) -> Cluster:
        """Every listening port picked free (tests, benchmarks beside a running hotline)."""
        udp = socket.SOCK_DGRAM
        base = _free_block(2 * workers)
        return cls(workdir, workers, kamailio_port=free_port(udp), node_sip_ports=(free_port(udp), free_port(udp)),
                   node_ami_ports=(free_port(), free_port()), agi_port=base, audiosocket_port=base + workers,
                   admin_port=free_port(), **kw)  # type: ignore[arg-type]

    # ---- paths and environment -------------------------------------------------------------------------------

    @property
    def kamailio_log(self) -> Path:
        return self.workdir / "kamailio.log"

    @property
    def kamailio_ctl(self) -> Path:
        return self.workdir / "kamailio_ctl"

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update({"HOTLINE_DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1",
                    "HOTLINE_STAFFED_HOURS": self.staffed_hours, "HOTLINE_AGENT_WAIT_S": str(self.agent_wait_s),
                    "HOTLINE_PROMPT_CACHE_DIR": str(self.workdir / "prompts"),
                    "HOTLINE_RECORDING_DIR": str(self.workdir / "recordings"),
                    "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")})
        env.update(self.env)
        return env

    def _hotline(self, *args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "cli", *args], env=self.base_env(), cwd=self.workdir,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise ClusterError(f"hotline {' '.join(args)} failed:\n{proc.stderr[-2000:]}")

    # ---- start / stop ----------------------------------------------------------------------------------------

    def start(self, log=print) -> Cluster:  # noqa: ANN001
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_database(log)
            self._plan()
            for i in range(2):
                self.start_node(i)
            log(f"Asterisk nodes  {', '.join(f'{n.instance} SIP 127.0.0.1:{n.sip_port}' for n in self.nodes)}")
            for g in self.groups:
                self.start_group(g)
            log(f"IVR workers     {' '.join(a for g in self.groups for a in g.addresses())}")
            self._start_kamailio()
            log(f"Kamailio        SIP 127.0.0.1:{self.kamailio_port} (dial 86909000); log {self.kamailio_log}")
            log(f"admin panel     http://127.0.0.1:{self.admin_port}/ (hotline admin create-user NAME --role admin,"
                f" with HOTLINE_DATABASE_URL={self.database_url})")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_database(self, log) -> None:  # noqa: ANN001
        if not self.database_url:
            self.pg = TemporaryPostgres().start()
            self.database_url = self.pg.create_database("hotline")
        log(f"PostgreSQL      {self.database_url}")
        self._hotline("db", "upgrade")
        self._hotline("kb", "import")

    def _plan(self) -> None:
        counts = [(self.workers + 1) // 2, self.workers // 2]
        agi, audio = self.agi_port, self.audiosocket_port
        self.groups = []
        for node, count in enumerate(counts):
            if count:
                self.groups.append(Group(node, count, agi, audio, self.workdir / f"node{node + 1}" / "var",
                                         self.workdir / f"workers-node{node + 1}.log"))
            agi, audio = agi + count, audio + count
        every = "&".join(a for g in self.groups for a in g.addresses())
        root = self.sandbox_root or Sandbox().root
        rtp = 30000 + os.getpid() % 100 * 200
        self.nodes = [Sandbox(root=root, instance=f"{self.name}-ast{i + 1}", sip_port=self.node_sip_ports[i],
                              ami_port=self.node_ami_ports[i], ivr_workers=every, ami_secret=os.urandom(12).hex(),
                              agi_port=self.agi_port, audiosocket_port=self.audiosocket_port,
                              rtp_ports=(rtp + 100 * i, rtp + 100 * i + 98), agent_wait_s=self.agent_wait_s,
                              staffed_hours=self.staffed_hours) for i in range(2)]

    def start_node(self, i: int) -> None:
        """Start (or start again) Asterisk node ``i``."""
        sb = self.nodes[i]
        build(sb.root)
        sounds = sb.root.parent / "asterisk-sounds"  # the prompts the sandbox renders with our TTS, if present
        if sounds.is_dir():
            sb = self.nodes[i] = dataclasses.replace(sb, sounds_dir=sounds)
        install_config(sb)
        start_asterisk(sb)

    def stop_node(self, i: int) -> None:
        stop_asterisk(self.nodes[i])

    def start_group(self, g: Group) -> None:
        node = self.nodes[g.node]
        env = self.base_env()
        env.update({"HOTLINE_VAR_DIR": str(g.var_dir), "HOTLINE_AGI_PORT": str(g.agi_base),
                    "HOTLINE_AUDIOSOCKET_PORT": str(g.audiosocket_base), "HOTLINE_AMI_PORT": str(node.ami_port),
                    "HOTLINE_AMI_USER": node.ami_user, "HOTLINE_AMI_SECRET": node.ami_secret,
                    "HOTLINE_ADMIN_PORT": str(self.admin_port)})
        g.var_dir.mkdir(parents=True, exist_ok=True)
        args = ["serve", "--workers", str(g.count)] + (["--no-admin"] if g.node else [])
        with open(g.log, "ab") as out:
            g.proc = subprocess.Popen([sys.executable, "-m", "cli", *args], env=env, cwd=self.workdir,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(lambda: self.ready_workers(g) >= g.count or g.proc.poll() is not None, 240,
                  f"IVR workers of node {g.node + 1}", g.log)
        if g.proc.poll() is not None:
            raise ClusterError(f"hotline serve for node {g.node + 1} exited {g.proc.returncode}; see {g.log}")

    @staticmethod
    def ready_workers(g: Group) -> int:
        try:
            return g.log.read_text(errors="replace").count("IVR ready")
        except OSError:
            return 0

    def _start_kamailio(self) -> None:
        ds = self.workdir / "dispatcher.list"
        ds.write_text("".join(f"1 sip:127.0.0.1:{n.sip_port} 0 0 name={n.instance}\n" for n in self.nodes))
        if shutil.which("kamailio") is None:
            raise ClusterError("kamailio is not installed (apt-get install -y kamailio)")
        cmd = ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-Y", str(self.workdir), "-P",
               str(self.workdir / "kamailio.pid"), "-A", f"SIP_PORT={self.kamailio_port}",
               "-A", f'DS_LIST="{ds}"', "-A", f'CTL_SOCKET="unix:{self.kamailio_ctl}"']
        with open(self.kamailio_log, "ab") as out:
            self.kamailio = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(lambda: self.kamailio.poll() is not None or self.nodes_up() == len(self.nodes), 30,
                  "Kamailio with both nodes probed up", self.kamailio_log)
        if self.kamailio.poll() is not None:
            raise ClusterError(f"kamailio exited {self.kamailio.returncode}; see {self.kamailio_log}:\n"
                               + self.kamailio_log.read_text(errors="replace")[-2000:])

    def dispatcher(self) -> dict[str, str]:
        """Kamailio's view of each node: destination URI -> flags (``AP`` active, ``IP`` inactive, ...)."""
        try:
            out = subprocess.run(["kamcmd", "-s", f"unix:{self.kamailio_ctl}", "dispatcher.list"],
                                 capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return {}
        state: dict[str, str] = {}
        uri = None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("URI:"):
                uri = line.split(":", 1)[1].strip()
            elif line.startswith("FLAGS:") and uri:
                state[uri] = line.split(":", 1)[1].strip()
        return state

    def nodes_up(self) -> int:
        return sum(1 for flags in self.dispatcher().values() if flags.startswith("A"))

    def stop(self) -> None:
        if self.kamailio is not None and self.kamailio.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.kamailio.pid, signal.SIGTERM)
            try:
                self.kamailio.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.kamailio.pid, signal.SIGKILL)
                self.kamailio.wait()
        for g in self.groups:
            if g.proc is not None and g.proc.poll() is None:
                g.proc.send_signal(signal.SIGTERM)
        for g in self.groups:
            if g.proc is not None:
                try:
                    g.proc.wait(40)
                except subprocess.TimeoutExpired:
                    os.killpg(g.proc.pid, signal.SIGKILL)
                    g.proc.wait()
        for sb in self.nodes:
            with contextlib.suppress(SandboxError):
                stop_asterisk(sb)
        if self.pg is not None:
            self.pg.stop()
            self.pg = None

    def __enter__(self) -> Cluster:
        return self.start(log=lambda *_: None)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cluster", description="Kamailio + 2 Asterisk + IVR workers + PostgreSQL")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start everything on 127.0.0.1 and run until Ctrl-C")
    p.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2), help="IVR workers in all (default: cores)")
    p.add_argument("--dir", type=Path, help="working directory (default: a new temp dir)")
    p.add_argument("--database-url", default="", help="use this PostgreSQL instead of a throw-away one")
    p.add_argument("--free-ports", action="store_true", help="pick free ports instead of 5060/5070/5080/4573...")
    args = parser.parse_args(argv)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="hotline-cluster-"))
    make = Cluster.on_free_ports if args.free_ports else Cluster
    cluster = make(workdir, args.workers, database_url=args.database_url)  # type: ignore[operator]
    try:
        cluster.start()
    except (ClusterError, SandboxError) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    print(f"running; logs in {workdir}; Ctrl-C stops everything", flush=True)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    try:
        while not stop[0]:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
