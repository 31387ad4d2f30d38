"""Time from a caller pressing 0 to the agent's browser ringing, p50/p95 over N calls, on the real path:
sipp caller → Asterisk sandbox → `hotline serve --no-admin` (IVR escalates, call-route → Queue) → wss/WebRTC →
JsSIP softphone in headless Chromium (agent console served by the panel in this process, agent logged in to the
queue with AMI QueueAdd). Needs root (the chroot), sipp, sox, chromium + chromium-driver. From the repo root:

    .venv/bin/python benchmarks/webrtc_bench.py [--calls 20]

"Pressed 0" is when the IVR received the DTMF (its dtmf turn in the call record; sipp's SIP INFO reaches it over
loopback within milliseconds); "ringing" is the browser's Date.now() when JsSIP delivered the INVITE
(``data-ringing-at`` on the softphone). Both clocks are this host's. After each ring the agent answers and hangs
up; the next call starts after the queue's wrap-up time (queues.conf ``wrapuptime``; QueueSummary's "Available"
does not count it), otherwise the ring itself would wait for the wrap-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from call_bench import pct  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from admin import create_app  # noqa: E402
from hotline.config import load_settings  # noqa: E402
from hotline.db import make_engine, make_sessionmaker  # noqa: E402
from hotline.models import Call, CallEvent, User  # noqa: E402
from ivr.ami import QueueMembers  # noqa: E402
from scripts.chromium import chromium, fake_microphone, panel_login  # noqa: E402
from scripts.ports import free_port  # noqa: E402
from scripts.sandbox import Sandbox, reload_webrtc_endpoints, started, webrtc_secret  # noqa: E402
from scripts.serve import prepare_serve, serve_env, start_serve, stop_serve  # noqa: E402

SIPP = REPO / "tests" / "integration" / "sipp" / "uac_dtmf.xml"
PASSWORD = "bench-pass-1"
WRAPUP_S = next(int(line.split("=")[1]) for line in (REPO / "dialplans" / "queues.conf").read_text().splitlines()
                if line.startswith("wrapuptime"))


def agent_browser(work: Path) -> webdriver.Chrome:
    mic = work / "mic.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(mic), "trim", "0", "1"], check=True)
    return chromium(work / "profile", "--use-fake-ui-for-media-stream", *fake_microphone(mic),
                    "--ignore-certificate-errors")


def _epoch_ms(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000


def wait(fn, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="webrtc-bench-"))
    sb = Sandbox.on_free_ports(f"bench-{os.getpid()}", agent_wait_s=30)
    env = serve_env(sb, work / "var", HOTLINE_AGENT_WAIT_S="30", HOTLINE_PRERENDER_ANSWERS="0")
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(work / "caller.wav"), "trim", "0", "60"],
                   check=True)
    with started(sb):
        serve = driver = server = None
        try:
            prepare_serve(env, work)
            serve = start_serve(env, work)
            settings = dataclasses.replace(load_settings(env=env), webrtc_ws_url=sb.ws_url, webrtc_secret=webrtc_secret(sb))
            sessions = make_sessionmaker(make_engine(settings.effective_database_url))
            with sessions() as s:
                user = User(username="agent1", role="agent", display_name="坐席一")
                user.set_password(PASSWORD)
                s.add(user)
                s.commit()
            reload_webrtc_endpoints(sb, ["agent1"])
            members = QueueMembers("127.0.0.1", sb.ami_port, sb.ami_user, sb.ami_secret, settings.queue_name)
            app = create_app(settings)
            app.extensions["queue_members"] = members
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            base = f"http://127.0.0.1:{server.server_port}"

            driver = agent_browser(work)
            panel_login(driver, base, "agent1", PASSWORD)
            driver.get(f"{base}/agent/")
            phone = lambda: driver.find_element(By.ID, "softphone")  # noqa: E731
            wait(lambda: phone().get_attribute("data-phone") == "registered", 30, "the softphone to register")
            driver.find_element(By.CSS_SELECTOR, "button[data-action=login]").click()
            wait(lambda: members.available() == 1, 10, "the agent in the queue")

            samples: list[float] = []
            stages: dict[str, list[float]] = {}
            for i in range(args.calls):
                number = f"1390000{i:04d}"
                driver.execute_script("document.getElementById('softphone').removeAttribute('data-ringing-at')")
                sipp = subprocess.Popen(
                    ["sipp", "-sf", str(SIPP), "-s", "86909000", "-key", "caller", number, "-key", "dtmf", "0",
                     f"127.0.0.1:{sb.sip_port}", "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1",
                     "-nostdin", "-timeout", "90", "-timeout_error", "-d", "1500"],
                    cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                rang = int(wait(lambda: phone().get_attribute("data-ringing-at"), 60, f"call {i + 1} to ring"))
                driver.find_element(By.ID, "btn-answer").click()
                wait(lambda: phone().get_attribute("data-phone") == "incall", 15, "the agent to be connected")
                driver.find_element(By.ID, "btn-hangup").click()
                sipp.wait(60)
                with sessions() as s:
                    call = s.scalars(select(Call).where(Call.caller_number == number)).one()
                    pressed = _epoch_ms(next(t.at for t in call.turns if t.kind == "dtmf"))
                    events = s.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)).all()
                    first = {}
                    for e in events:
                        first.setdefault(e.name, _epoch_ms(e.at))
                ms = rang - pressed
                samples.append(ms)
                # Where the time goes: the IVR's hand-over words end (call-route), Asterisk queues the caller and
                # rings the member (AMI events, stamped when the IVR's call log wrote them: they may trail the
                # browser's ring by a few ms, so "browser" can come out slightly negative), then SIP over wss.
                marks = [("call-route", first.get("call-route")), ("queued", first.get("QueueCallerJoin")),
                         ("member rung", first.get("AgentCalled")), ("browser", rang)]
                prev, parts = pressed, []
                for name, at in marks:
                    if at is not None:
                        parts.append(f"{name} +{at - prev:.0f}")
                        stages.setdefault(name, []).append(at - prev)
                        prev = at
                print(f"call {i + 1:2d}: pressed 0 → browser ringing {ms:6.0f} ms  ({', '.join(parts)})")
                time.sleep(WRAPUP_S + 1)
            samples.sort()
            print(f"\n{len(samples)} calls: p50 {statistics.median(samples):.0f} ms, p95 {pct(samples, 95):.0f} ms, "
                  f"min {samples[0]:.0f} ms, max {samples[-1]:.0f} ms")
            print("median per stage (ms): " + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in stages.items()))
        finally:
            if driver is not None:
                driver.execute_script("if (window.hotlinePhone) { window.hotlinePhone.stop(); }")
                time.sleep(1)
                driver.quit()
            if server is not None:
                server.shutdown()
            stop_serve(serve)
            print(f"call records and serve.log kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
