"""The recogniser raises, the recogniser hangs, the synthesiser raises — during a live call over real TCP.

What the caller hears: "抱歉，系统出了点问题，正在为您转接人工服务，请稍候。" then "好的，正在为您转接人工服务" — both
from the prompt cache rendered before the call (not live synthesis, which may be what failed) — and then the
agent queue (Asterisk's call-route says ``queue``). Never dead air, never a dropped call.
What the database holds: the call row closed ``escalated`` with ``escalation_reason`` naming the fault
(``asr_error``, ``asr_timeout``, ``tts_error``); the IVR turns end with those two sentences.
What the log says: one WARNING with the fault (``recognition failed: ...decoder crashed``, ``recognition gave
no result in 1 s``, ``speaking failed: no voice could say this sentence``).
"""

from __future__ import annotations

import asyncio

from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.runtime import booking_factory
from speech.engine import SpeechEngine
from speech.fallback import FallbackSynthesizer
from speech.vosk_asr import VoskRecognizer
from tests.ivr.test_calls import load_call
from tests.reliability.conftest import fast_voice
from tests.reliability.faults import (
    CrashingRecognizer,
    HangingRecognizer,
    call_until_released,
    espeak_question,
    heard,
)


def _check_handed_over(rt, route, row, audio, reason: str) -> None:  # noqa: ANN001
    assert route["HOTLINE_ROUTE"] == "queue"
    assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == reason
    _, turns, events = load_call(rt.settings.effective_database_url, row.call_uuid)
    assert [t.text for t in turns if t.speaker == "ivr"][-2:] == [P.SPEECH_FAILED, P.TRANSFERRING]
    assert any(e.name == "escalate" and e.data == {"reason": reason} for e in events)
    cache = rt.deps.prompt_cache
    assert heard(audio, cache[P.SPEECH_FAILED]) and heard(audio, cache[P.TRANSFERRING])


def test_the_recogniser_raises(settings, qa, ivr_settings, running_ivr, ivr_log, espeak_prompts):
    s = ivr_settings(settings, prompt_cache_dir=espeak_prompts)
    recognizer = CrashingRecognizer()
    speech = SpeechEngine(s, recognizer, FallbackSynthesizer([fast_voice()]))

    async def scenario():
        async with running_ivr(s, speech, qa) as rt:
            recognizer.calls = 0  # warm-up ran it once
            return rt, *await call_until_released(rt, question=espeak_question())

    rt, route, row, audio = asyncio.run(scenario())
    assert recognizer.calls >= 1
    _check_handed_over(rt, route, row, audio, "asr_error")
    assert ivr_log.matching("WARNING", "recognition failed", "decoder crashed")


def test_the_recogniser_hangs(settings, qa, ivr_settings, running_ivr, ivr_log, espeak_prompts):
    """The recogniser stops answering mid-service: after ``asr_timeout_s`` the turn is a fault (it used to wait
    for ever, the caller hearing the keepalive's silence until the call-length limit)."""
    s = ivr_settings(settings, asr_timeout_s=1.0, prompt_cache_dir=espeak_prompts)
    recognizer = HangingRecognizer()
    speech = SpeechEngine(s, recognizer, FallbackSynthesizer([fast_voice()]))

    async def scenario():
        async with running_ivr(s, speech, qa) as rt:
            recognizer.hang.set()
            return rt, *await call_until_released(rt, question=espeak_question())

    try:
        rt, route, row, audio = asyncio.run(scenario())
    finally:
        recognizer.release.set()  # free the stuck worker thread
    assert recognizer.calls >= 2  # warm-up, then the caller's question (which hung)
    _check_handed_over(rt, route, row, audio, "asr_timeout")
    assert ivr_log.matching("WARNING", "recognition gave no result in 1 s")


def test_the_recogniser_hangs_from_the_start(settings, qa, ivr_settings, running_ivr, ivr_log, espeak_prompts):
    """Stuck already while the models warm up at start: the IVR still answers the phone after
    ``warmup_timeout_s`` (it used to wait for ever before opening its ports), and the caller reaches an agent."""
    s = ivr_settings(settings, asr_timeout_s=1.0, warmup_timeout_s=1.0, prompt_cache_dir=espeak_prompts)
    recognizer = HangingRecognizer()
    recognizer.hang.set()
    speech = SpeechEngine(s, recognizer, FallbackSynthesizer([fast_voice()]))

    async def scenario():
        async with running_ivr(s, speech, qa) as rt:
            try:
                return rt, *await call_until_released(rt, question=espeak_question())
            finally:
                # (before the loop closes: its shutdown waits for the warm-up thread the recogniser holds)
                recognizer.release.set()

    try:
        rt, route, row, audio = asyncio.run(scenario())
    finally:
        recognizer.release.set()
    assert ivr_log.matching("ERROR", "speech warm-up gave no result in 1 s")
    _check_handed_over(rt, route, row, audio, "asr_timeout")


def test_the_synthesiser_raises(settings, qa, ivr_settings, running_ivr, ivr_log, tmp_path):
    """The voice worked when the prompts were rendered (install / an earlier run filled the on-disk prompt cache)
    and is gone now (espeak-ng's binary missing): the greeting and the fault sentences still play from the cache;
    the booking dialog's first question, which needs live synthesis, fails and the caller goes to an agent."""
    s = ivr_settings(settings, prompt_cache_dir=tmp_path / "prompts")
    SpeechEngine(s, VoskRecognizer(tmp_path / "no-model"), FallbackSynthesizer([fast_voice()])).prerender(P.FIXED)
    gone = fast_voice(binary=str(tmp_path / "no-espeak-ng"))
    speech = SpeechEngine(s, VoskRecognizer(tmp_path / "no-model"), FallbackSynthesizer([gone]))

    async def scenario():
        async with running_ivr(s, speech, qa, booking=booking_factory(s, qa)) as rt:
            return rt, *await call_until_released(rt, dtmf="9")  # 9: book an appointment

    rt, route, row, audio = asyncio.run(scenario())
    _check_handed_over(rt, route, row, audio, "tts_error")
    assert heard(audio, rt.deps.prompt_cache[P.GREETING_STAFFED][:3200])  # its start: the caller pressed 9 over it
    assert ivr_log.matching("WARNING", "speaking failed", "no voice could say this sentence")
