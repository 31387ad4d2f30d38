"""A real Asterisk 22 for development and tests: a Debian sid chroot with our dialplans, run as root.

Debian 12 has no asterisk package, so ``build`` debootstraps a minimal sid tree once into a cache dir
(``$HOTLINE_SANDBOX_DIR``, default ``~/.cache/hotline/asterisk-sid``), atomically: into a temp dir, renamed at the
end, so an interrupted build is simply redone. Each *instance* (``$HOTLINE_SANDBOX_INSTANCE``, default
``default``; tests use their own) lives in ``<chroot>/hotline/<instance>/`` with its own etc/run/log/spool dirs, so
a developer's sandbox and a test run can share one chroot without touching each other.

``install_config`` renders ``dialplans/*.conf`` into the instance's etc dir: a line ending in
``; @install <template>`` gets its value replaced by the template filled with the instance's ports and hosts
(the files stay valid drop-ins with their defaults). Secrets never come from the repo: the AMI secret comes from
``HOTLINE_AMI_SECRET`` or is generated into ``<instance>/ami_secret`` (mode 0600); agent SIP passwords are
generated into ``pjsip_agents_auth.conf``. WebRTC: a self-signed TLS certificate for Asterisk's HTTPS/WSS server is
generated into ``<instance>/etc/keys`` (its SHA-256 fingerprint printed), and ``pjsip_webrtc.conf`` (guest + one
endpoint per panel agent) is derived from ``HOTLINE_WEBRTC_SECRET`` or a generated ``<instance>/webrtc_secret``.

Used by ``scripts/asterisk-sandbox build|install-config|start|stop|status|env|errors|rx`` and by the integration tests.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import IvrError
from scripts.ports import free_port

REPO_DIALPLANS = Path(__file__).resolve().parent.parent / "dialplans"
DEFAULT_ROOT = Path.home() / ".cache" / "hotline" / "asterisk-sid"
PACKAGES = "asterisk,asterisk-modules,asterisk-config"
AGENTS = ("agent1", "agent2", "agent3")
_MARKER = re.compile(r"^(?P<head>[^;]*?(?:=>|=)\s*)(?P<value>[^;]*?)(?P<gap>\s*);\s*@install\s+(?P<tpl>\S+).*$")


class SandboxError(IvrError):
    """The sandbox cannot be built, configured, started or reached; the message says what failed."""


def asterisk_time_range(spec: str) -> str:
    """Our HH:MM-HH:MM staffed hours as GotoIfTime's time field: Asterisk refuses 24:00 (its ranges end on a
    minute that is still inside), so a range to midnight ends at 23:59 and the whole day is ``*``."""
    start, end = spec.strip().split("-")
    if end == "24:00":
        return "*" if start in ("00:00", "0:00") else f"{start}-23:59"
    return f"{start}-{end}"


@dataclass(frozen=True)
class Sandbox:
    root: Path = DEFAULT_ROOT
    instance: str = "default"
    sip_port: int = 5070
    ami_port: int = 5038
    ivr_host: str = "127.0.0.1"
    agi_port: int = 4573
    audiosocket_port: int = 9092
    ivr_workers: str = ""  # "host:agi:audiosocket&..." for several IVR workers (dialplan [hotline-ivr-pick])
    ami_user: str = "hotline"
    ami_secret: str = ""  # empty: generated once into <instance>/ami_secret
    http_port: int = 8088  # Asterisk's plain HTTP (loopback); WebRTC uses the TLS port below
    wss_port: int = 8089
    webrtc_secret: str = ""  # empty: generated once into <instance>/webrtc_secret
    webrtc_agents: tuple[str, ...] = ()  # panel usernames that get a webrtc-<name> endpoint
    webcall_max: int = 5
    rtp_ports: tuple[int, int] = (10000, 20000)
    agent_wait_s: int = 60
    staffed_hours: str = "08:00-20:00"
    staffed_days: str = "mon-sun"
    record_calls: bool = False
    dialplans: Path = REPO_DIALPLANS
    sounds_dir: Path | None = None  # generated prompts (custom/hotline-*.wav, zh/digits/*.wav) to install

    # --- paths (``*_in`` are as Asterisk sees them inside the chroot) ---------------------------------------
    @property
    def home_in(self) -> Path:
        return Path("/hotline") / self.instance

    @property
    def home(self) -> Path:
        return self.root / "hotline" / self.instance

    def host_path(self, inside: Path | str) -> Path:
        return self.root / str(inside).lstrip("/")

    @property
    def conf_in(self) -> Path:
        return self.home_in / "etc" / "asterisk.conf"

    @property
    def log_file(self) -> Path:
        return self.home / "log" / "messages.log"

    @property
    def console_log(self) -> Path:
        return self.home / "log" / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "asterisk.pid.host"

    @property
    def recording_dir_in(self) -> Path:
        return self.home_in / "recordings"

    @property
    def secret_file(self) -> Path:
        return self.home / "ami_secret"

    @property
    def webrtc_secret_file(self) -> Path:
        return self.home / "webrtc_secret"

    @property
    def cert_file(self) -> Path:
        return self.home / "etc" / "keys" / "asterisk.pem"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.wss_port}/ws"

    @property
    def built(self) -> bool:
        return (self.root / "usr" / "sbin" / "asterisk").exists()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Sandbox:
        """Instance settings from the hotline Settings (IVR ports, AMI) plus HOTLINE_SANDBOX_*/HOTLINE_SIP_PORT."""
        from hotline.config import load_settings

        env = os.environ if env is None else env
        s = load_settings(env=env)
        rtp = env.get("HOTLINE_RTP_PORTS", "10000-20000").split("-")
        values: dict[str, object] = {
            "root": Path(env.get("HOTLINE_SANDBOX_DIR") or DEFAULT_ROOT),
            "instance": env.get("HOTLINE_SANDBOX_INSTANCE", "default"),
            "sip_port": int(env.get("HOTLINE_SIP_PORT", "5070")),
            "ami_port": s.ami_port,
            "ivr_host": s.bind_host,
            "agi_port": s.agi_port,
            "audiosocket_port": s.audiosocket_port,
            "ivr_workers": env.get("HOTLINE_IVR_WORKERS", ""),
            "ami_user": s.ami_user,
            "ami_secret": s.ami_secret,
            "http_port": int(env.get("HOTLINE_ASTERISK_HTTP_PORT", "8088")),
            "wss_port": int(env.get("HOTLINE_WSS_PORT", "8089")),
            "webrtc_secret": s.webrtc_secret,
            "webrtc_agents": tuple(a for a in env.get("HOTLINE_WEBRTC_AGENTS", "").split(",") if a),
            "rtp_ports": (int(rtp[0]), int(rtp[1])),
            "agent_wait_s": s.agent_wait_s,
            "staffed_hours": s.staffed_hours,
            "staffed_days": s.staffed_days,
        }
        if env.get("HOTLINE_SOUNDS_DIR"):
            values["sounds_dir"] = Path(env["HOTLINE_SOUNDS_DIR"])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def on_free_ports(cls, instance: str, **overrides: object) -> Sandbox:
        """A throw-away instance for tests and benchmarks beside a running hotline: every listening port picked
        free, a fresh AMI secret, staffed round the clock (a test call reaches the IVR whatever the hour); the
        chroot from $HOTLINE_SANDBOX_DIR as usual, nothing else from the environment."""
        values: dict[str, object] = {
            "instance": instance,
            "sip_port": free_port(socket.SOCK_DGRAM),
            "ami_port": free_port(),
            "http_port": free_port(),
            "wss_port": free_port(),
            "agi_port": free_port(),
            "audiosocket_port": free_port(),
            "ami_secret": os.urandom(12).hex(),
            "staffed_hours": "00:00-24:00",
        }
        values.update(overrides)
        env = {k: v for k, v in os.environ.items() if k == "HOTLINE_SANDBOX_DIR"}
        return cls.from_env(env=env, **values)

    def params(self, secret: str) -> dict[str, str]:
        inside = self.home_in
        return {
            "SIP_BIND": "127.0.0.1",
            "SIP_PORT": str(self.sip_port),
            "AMI_PORT": str(self.ami_port),
            "IVR_HOST": self.ivr_host,
            "AGI_PORT": str(self.agi_port),
            "AUDIOSOCKET_PORT": str(self.audiosocket_port),
            "IVR_WORKERS": self.ivr_workers,
            "AGENT_WAIT_S": str(self.agent_wait_s),
            "STAFFED_TIMES": asterisk_time_range(self.staffed_hours),
            "STAFFED_DAYS": self.staffed_days,
            "RECORD_CALLS": "yes" if self.record_calls else "no",
            "RECORDING_DIR": str(self.recording_dir_in),
            "RTP_START": str(self.rtp_ports[0]),
            "RTP_END": str(self.rtp_ports[1]),
            "ETC_DIR": str(inside / "etc"),
            "RUN_DIR": str(inside / "run"),
            "LOG_DIR": str(inside / "log"),
            "SPOOL_DIR": str(inside / "spool"),
            "DB_DIR": str(inside / "db"),
            "CACHE_DIR": str(inside / "cache"),
            "HTTP_PORT": str(self.http_port),
            "WSS_PORT": str(self.wss_port),
            "TLS_CERT": str(inside / "etc" / "keys" / "asterisk.pem"),
            "TLS_KEY": str(inside / "etc" / "keys" / "asterisk.key"),
            "WEBCALL_MAX": str(self.webcall_max),
            "AMI_USER": self.ami_user,
            "AMI_SECRET": secret,
            "SYSTEM_NAME": re.sub(r"[^A-Za-z0-9_-]", "-", self.instance),
        }


# --- build ---------------------------------------------------------------------------------------------------


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine already uses (deb822 ``URIs:`` first, then sources.list)."""
    candidates: list[str] = []
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip().lower().startswith("uris:"):
                candidates += line.split(":", 1)[1].split()
    legacy = sources_dir / "sources.list"
    if legacy.exists():
        for line in legacy.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                candidates.append(next(p for p in parts[1:] if not p.startswith("[")))
    for uri in candidates:
        if "security" not in uri and "updates" not in uri:
            return uri.rstrip("/")
    raise SandboxError(f"no Debian mirror found in {sources_dir}/sources.list.d/*.sources or sources.list")


def build(root: Path = DEFAULT_ROOT, mirror: str | None = None, log=print) -> Path:  # noqa: ANN001
    """Debootstrap the sid chroot once; a finished tree is reused, a half-built one is thrown away."""
    if (root / "usr" / "sbin" / "asterisk").exists():
        return root
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed (apt-get install -y debootstrap)")
    if os.geteuid() != 0:
        raise SandboxError("building the Asterisk chroot needs root (debootstrap)")
    mirror = mirror or apt_mirror()
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(root.name + ".build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root.with_name(f"{root.name}.build-{os.getpid()}")
    log(f"building Asterisk sid chroot in {root} from {mirror} (about a minute)")
    cmd = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "sid", str(tmp), mirror]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (tmp / "usr" / "sbin" / "asterisk").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise SandboxError(f"debootstrap from {mirror} failed (exit {proc.returncode}):\n{tail}")
    if root.exists():  # someone else finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(root)
    return root


# --- configuration -------------------------------------------------------------------------------------------


def render(text: str, params: Mapping[str, str]) -> str:
    """Replace the value of every ``key = value ; @install {TEMPLATE}`` line; other lines are kept as they are."""
    out = []
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            try:
                value = m.group("tpl").format(**params)
            except KeyError as exc:
                raise SandboxError(f"unknown @install parameter {exc} in: {line.strip()}") from None
            line = f"{m.group('head')}{value}"
        out.append(line)
    return "\n".join(out) + "\n"


def _stored_secret(given: str, path: Path) -> str:
    """``given`` if set, else the secret generated once into ``path`` (mode 0600) and read back on later runs."""
    if given:
        return given
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, value + "\n")
    return value


def _secret(sb: Sandbox) -> str:
    return _stored_secret(sb.ami_secret, sb.secret_file)


def webrtc_secret(sb: Sandbox) -> str:
    """The secret Asterisk and the panel derive WebRTC SIP passwords from (HOTLINE_WEBRTC_SECRET or generated)."""
    return _stored_secret(sb.webrtc_secret, sb.webrtc_secret_file)


def tls_certificate(sb: Sandbox) -> str:
    """A self-signed certificate for Asterisk's HTTPS/WSS server (127.0.0.1, localhost), made once per instance;
    returns its SHA-256 fingerprint so a developer can compare what the browser shows."""
    cert, key = sb.cert_file, sb.cert_file.with_suffix(".key")
    if not (cert.exists() and key.exists()):
        if shutil.which("openssl") is None:
            raise SandboxError("openssl is not installed (apt-get install -y openssl): no certificate for WebRTC")
        cert.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "365", "-subj", "/CN=hotline-86909000 sandbox", "-addext",
             "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise SandboxError(f"openssl could not make the WebRTC certificate: {proc.stderr.strip()[-300:]}")
        os.chmod(key, 0o600)
    proc = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
                          capture_output=True, text=True, check=True)
    return proc.stdout.strip().split("=", 1)[-1]


def write_webrtc_endpoints(sb: Sandbox, usernames: Sequence[str] | None = None) -> Path:
    """pjsip_webrtc.conf from the panel's agent usernames (default: the instance's ``webrtc_agents``).
    A running Asterisk picks it up with ``module reload res_pjsip.so`` (see ``reload_webrtc_endpoints``)."""
    from admin.services.agent_phone import pjsip_conf

    path = sb.home / "etc" / "pjsip_webrtc.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sb.webrtc_agents if usernames is None else usernames
    _write_private(path, pjsip_conf(webrtc_secret(sb), names) + "\n")
    return path


def reload_webrtc_endpoints(sb: Sandbox, usernames: Sequence[str]) -> None:
    write_webrtc_endpoints(sb, usernames)
    rx(sb, "module reload res_pjsip.so")


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(text, encoding="utf-8")


def _primary_ip() -> str:
    """This machine's outgoing IPv4 address (a UDP connect sends nothing); loopback if there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.1.1"


def _write_hosts(path: Path) -> None:
    # Asterisk looks up its own address (hostname, else A.ROOT-SERVERS.NET) on the first call; the chroot has no
    # /etc/hosts or DNS, so without this every first call logs two ERROR lines.
    if path.exists():
        return
    path.write_text(f"127.0.0.1 localhost\n{_primary_ip()} {socket.gethostname()}\n::1 localhost ip6-localhost\n")


def install_config(sb: Sandbox) -> Path:
    """Render our dialplans into the instance's etc dir (and create its run/log/spool dirs)."""
    if not sb.built:
        raise SandboxError(f"no Asterisk chroot at {sb.root}; run: scripts/asterisk-sandbox build")
    for sub in ("etc", "run", "log", "spool", "db", "cache", "recordings"):
        (sb.home / sub).mkdir(parents=True, exist_ok=True)
    _write_hosts(sb.root / "etc" / "hosts")
    secret = _secret(sb)
    params = sb.params(secret)
    etc = sb.home / "etc"
    for src in sorted(sb.dialplans.glob("*.conf")):
        (etc / src.name).write_text(render(src.read_text(encoding="utf-8"), params), encoding="utf-8")
    _write_private(etc / "manager_hotline_secret.conf", f"; generated by install-config, never committed\n"
                   f"secret = {secret}\n")
    auth = etc / "pjsip_agents_auth.conf"
    if not auth.exists():
        blocks = [
            f"[{a}-auth]\ntype = auth\nauth_type = userpass\nusername = {a}\npassword = {secrets.token_urlsafe(12)}\n"
            for a in AGENTS
        ]
        _write_private(auth, "; generated by install-config, never committed\n" + "\n".join(blocks))
    write_webrtc_endpoints(sb)
    print(f"WebRTC: {sb.ws_url}, self-signed certificate SHA-256 {tls_certificate(sb)}")
    if sb.sounds_dir and sb.sounds_dir.is_dir():
        # Layout as under <astdatadir>/sounds: custom/hotline-*.wav, zh/digits/N.wav (see dialplans/sounds/).
        (sb.root / "usr" / "local" / "share" / "asterisk" / "sounds").mkdir(parents=True, exist_ok=True)  # custom/
        shutil.copytree(sb.sounds_dir, sb.root / "usr" / "share" / "asterisk" / "sounds", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.md", "*.tsv", ".*"))
    return etc


# --- process control -----------------------------------------------------------------------------------------


def _asterisk(sb: Sandbox, *args: str) -> list[str]:
    return ["chroot", str(sb.root), "/usr/sbin/asterisk", "-C", str(sb.conf_in), *args]


def rx(sb: Sandbox, command: str, timeout: float = 15) -> str:
    """Run one CLI command on the running instance (``asterisk -rx``)."""
    try:
        proc = subprocess.run(_asterisk(sb, "-rx", command), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"asterisk -rx {command!r} timed out") from None
    if proc.returncode != 0:
        raise SandboxError(f"asterisk -rx {command!r} failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout


def _pid(sb: Sandbox) -> int | None:
    try:
        pid = int(sb.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    # Guard against a recycled pid: it must still be our chroot's asterisk.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if str(sb.conf_in).encode() in cmdline else None


def running(sb: Sandbox) -> bool:
    return _pid(sb) is not None


def start(sb: Sandbox, timeout: float = 60) -> int:
    """Start ``asterisk -f -n`` in the background and wait until it is fully booted; returns its pid."""
    pid = _pid(sb)
    if pid is not None:
        return pid
    if os.geteuid() != 0:
        raise SandboxError("the sandbox runs Asterisk in a chroot and needs root")
    if not (sb.home / "etc" / "asterisk.conf").exists():
        install_config(sb)
    sb.console_log.parent.mkdir(parents=True, exist_ok=True)
    for stale in (sb.home / "run").glob("asterisk.*"):
        stale.unlink(missing_ok=True)
    with open(sb.console_log, "ab") as out:
        proc = subprocess.Popen(
            _asterisk(sb, "-f", "-n"), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the shell that started it must not kill it
        )
    sb.pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(f"asterisk exited with {proc.returncode} during boot; see {sb.console_log}:\n"
                               + _tail(sb.console_log))
        try:
            rx(sb, "core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
            return proc.pid
        except SandboxError:
            time.sleep(0.2)
    _kill(proc.pid)
    raise SandboxError(f"asterisk did not finish booting in {timeout:g} s; see {sb.console_log}:\n"
                       + _tail(sb.console_log))


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _kill(pid: int, grace: float = 10) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:  # not our child: poll for it instead
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.1)


def stop(sb: Sandbox, timeout: float = 15) -> bool:
    """``core stop now``; falls back to signals on our own pid. Returns False if it was not running."""
    pid = _pid(sb)
    if pid is None:
        return False
    with contextlib.suppress(SandboxError):
        rx(sb, "core stop now", timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            if _pid(sb) is None:
                break
        time.sleep(0.1)
    else:
        _kill(pid)
    sb.pid_file.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def started(sb: Sandbox) -> Iterator[Sandbox]:
    """A throw-away instance (tests, benchmarks): build the chroot if needed, install the config, start Asterisk;
    on leaving, stop it and remove the instance's home (a failed boot keeps its log for the error message)."""
    build(sb.root)
    install_config(sb)
    start(sb)
    try:
        yield sb
    finally:
        stop(sb)
        shutil.rmtree(sb.home, ignore_errors=True)


# Asterisk's own noise at ERROR, not a fault of ours: Asterisk 22's iostream.c tries SSL_shutdown() on a wss socket
# the browser already closed (even after a clean WebSocket close), and a browser that refuses the self-signed
# certificate aborts the TLS handshake (tests/integration/test_webrtc.py does that on purpose).
TLS_NOISE = ("SSL_shutdown() failed", "Problem setting up ssl connection", "Unable to set up ssl connection")


def boot_problems(sb: Sandbox, levels: Sequence[str] = ("ERROR",)) -> list[str]:
    """Log lines at the given levels (``[date] ERROR[tid] file: message``) from the instance's messages.log,
    without Asterisk's TLS close/handshake noise (TLS_NOISE) and without the lines a test caused on purpose and
    declared with ``expect_problems`` (killing the IVR makes AudioSocket log a reset: that is the scenario)."""
    try:
        text = sb.log_file.read_text(errors="replace")
    except OSError:
        return []
    try:
        expected = set(_expected_file(sb).read_text(encoding="utf-8").splitlines())
    except OSError:
        expected = set()
    pattern = re.compile(r"\]\s+(" + "|".join(levels) + r")\[")
    return [line for line in text.splitlines()
            if pattern.search(line) and not any(n in line for n in TLS_NOISE) and line not in expected]


@contextlib.contextmanager
def expect_problems(sb: Sandbox) -> Iterator[None]:
    """Declare the ERROR lines logged while the block runs as caused on purpose (a fault-injection test), so the
    instance's later "no errors" checks do not depend on the order tests run in."""
    before = set(boot_problems(sb))
    try:
        yield
    finally:
        caused = [line for line in boot_problems(sb) if line not in before]
        if caused:
            with _expected_file(sb).open("a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in caused))


def _expected_file(sb: Sandbox) -> Path:
    return sb.home / "expected-problems.log"


def status(sb: Sandbox) -> str:
    if not sb.built:
        return f"not built ({sb.root})"
    pid = _pid(sb)
    if pid is None:
        return f"stopped (instance {sb.instance} in {sb.root})"
    uptime = rx(sb, "core show uptime").strip().splitlines()
    return (f"running, pid {pid}, instance {sb.instance}; SIP 127.0.0.1:{sb.sip_port} UDP, AMI 127.0.0.1:{sb.ami_port}"
            f" -> IVR {sb.ivr_host} AGI {sb.agi_port} AudioSocket {sb.audiosocket_port}; "
            + (uptime[0] if uptime else ""))


def env_lines(sb: Sandbox) -> str:
    """Shell ``export`` lines that point `hotline serve` at this instance's AMI (creating the secret if needed) and
    at the directory its Asterisk records into, seen from the host: the IVR stores names relative to it and the
    panel plays the files from it."""
    import shlex

    values = {"HOTLINE_AMI_HOST": "127.0.0.1", "HOTLINE_AMI_PORT": str(sb.ami_port), "HOTLINE_AMI_USER": sb.ami_user,
              "HOTLINE_AMI_SECRET": _secret(sb), "HOTLINE_WEBRTC_WS_URL": sb.ws_url,
              "HOTLINE_WEBRTC_SECRET": webrtc_secret(sb),
              "HOTLINE_RECORDING_DIR": str(sb.host_path(sb.recording_dir_in))}
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in values.items())


def _with_prompts(sb: Sandbox, skip: bool) -> Sandbox:
    """Render the prompts Asterisk plays (queue, callback, voicemail) with our TTS into the sounds dir
    (``HOTLINE_SOUNDS_DIR`` or ``<var_dir>/asterisk-sounds``, cached by text hash) so install_config copies them.
    A voice failure only costs a warning: Asterisk plays silence for missing prompts and the call goes on."""
    if skip:
        return sb
    from hotline.config import load_settings
    from ivr.asterisk_prompts import render_for_settings

    try:
        target, report = render_for_settings(load_settings(), sb.sounds_dir)
    except Exception as exc:  # any voice failure: start without our prompts
        print(f"asterisk-sandbox: warning: prompts not rendered ({exc}); Asterisk will play silence", file=sys.stderr)
        return sb
    print(f"prompts in {target}: {len(report.rendered) + len(report.fallback)} rendered, "
          f"{len(report.unchanged)} unchanged")
    return dataclasses.replace(sb, sounds_dir=target)


def _panel_agents() -> list[str]:
    """Active users of the admin panel (HOTLINE_DATABASE_URL / var dir from the usual settings); none (with a
    warning) when the panel's database does not exist yet or cannot be read."""
    from sqlalchemy import select

    from admin.services.agent_phone import AgentPhoneError, endpoint_name
    from hotline.config import load_settings
    from hotline.db import make_engine, make_sessionmaker
    from hotline.models import User

    url = load_settings().effective_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []
    try:
        factory = make_sessionmaker(make_engine(url))
        with factory() as session:
            names = list(session.scalars(select(User.username).where(User.active.is_(True)).order_by(User.username)))
    except Exception as exc:  # no tables yet, database down: Asterisk still starts, without agent softphones
        print(f"asterisk-sandbox: warning: panel users not read ({exc.__class__.__name__}); no agent softphones",
              file=sys.stderr)
        return []
    usable = []
    for name in names:
        try:
            endpoint_name(name)
            usable.append(name)
        except AgentPhoneError:
            print(f"asterisk-sandbox: warning: user {name!r} cannot have a softphone (name)", file=sys.stderr)
    return usable


# --- command line --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asterisk-sandbox", description="a real Asterisk 22 in a Debian sid chroot")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="debootstrap the chroot once (cached)")
    p = sub.add_parser("install-config", help="render dialplans/ (and our prompts) into the instance")
    p.add_argument("--no-prompts", action="store_true", help="do not render/copy our prompts (Asterisk stays silent)")
    p = sub.add_parser("start", help="install config, start asterisk and wait until fully booted")
    p.add_argument("--record", action="store_true", help="MixMonitor every call into the instance recordings dir")
    p.add_argument("--no-prompts", action="store_true", help="do not render/copy our prompts (Asterisk stays silent)")
    sub.add_parser("stop", help="core stop now")
    sub.add_parser("status", help="is it running, on which ports")
    sub.add_parser("env", help="print HOTLINE_AMI_*, HOTLINE_WEBRTC_* and HOTLINE_RECORDING_DIR lines for "
                   "`hotline serve` (eval \"$(asterisk-sandbox env)\")")
    sub.add_parser("errors", help="ERROR lines of the instance log")
    sub.add_parser("webrtc-agents", help="give every active panel user a WebRTC endpoint (reads the panel database)")
    p = sub.add_parser("rx", help="run one CLI command, e.g. 'dialplan show 86909000@from-test-phones'")
    p.add_argument("command", nargs="+")
    # A second node from the same chroot: its own instance dir and ports (same as HOTLINE_SANDBOX_INSTANCE etc.).
    for p in sub.choices.values():
        p.add_argument("--instance", help="instance name (default: $HOTLINE_SANDBOX_INSTANCE or 'default')")
        p.add_argument("--sip-port", type=int, help="pjsip UDP port (default: $HOTLINE_SIP_PORT or 5070)")
        p.add_argument("--ami-port", type=int, help="AMI port (default: $HOTLINE_AMI_PORT or 5038)")
        p.add_argument("--rtp-ports", help="RTP range START-END (default: $HOTLINE_RTP_PORTS or 10000-20000)")
        p.add_argument("--ivr-workers", help="IVR workers host:agi:audiosocket&... (default: $HOTLINE_IVR_WORKERS)")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {k: v for k, v in (("instance", args.instance), ("sip_port", args.sip_port),
                                                       ("ami_port", args.ami_port), ("ivr_workers", args.ivr_workers))
                                    if v is not None}
    if args.rtp_ports:
        lo, hi = args.rtp_ports.split("-")
        overrides["rtp_ports"] = (int(lo), int(hi))
    sb = Sandbox.from_env(**overrides)
    try:
        if args.cmd == "build":
            print(build(sb.root))
        elif args.cmd == "install-config":
            sb = _with_prompts(sb, args.no_prompts)
            sb = dataclasses.replace(sb, webrtc_agents=sb.webrtc_agents or tuple(_panel_agents()))
            print(install_config(sb))
            if not sb.ami_secret:
                print(f"AMI secret for {sb.ami_user}: export HOTLINE_AMI_SECRET=$(cat {sb.secret_file})")
        elif args.cmd == "start":
            build(sb.root)
            sb = dataclasses.replace(_with_prompts(sb, args.no_prompts), record_calls=args.record,
                                     webrtc_agents=sb.webrtc_agents or tuple(_panel_agents()))
            install_config(sb)
            print(f"asterisk running, pid {start(sb)}; log {sb.log_file}")
        elif args.cmd == "stop":
            print("stopped" if stop(sb) else "not running")
        elif args.cmd == "status":
            print(status(sb))
        elif args.cmd == "env":
            print(env_lines(sb))
        elif args.cmd == "errors":
            problems = boot_problems(sb)
            print("\n".join(problems) or "no ERROR lines")
            return 1 if problems else 0
        elif args.cmd == "webrtc-agents":
            names = _panel_agents()
            reload_webrtc_endpoints(sb, names)
            print(f"WebRTC endpoints for {len(names)} agents: {', '.join(names) or '(none)'}")
        elif args.cmd == "rx":
            print(rx(sb, " ".join(args.command)), end="")
    except SandboxError as exc:
        print(f"asterisk-sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
