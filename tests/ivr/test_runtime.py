"""The runtime's shared parts: the hot-reloading knowledge base, and a failing stage handled inside a live call."""

from __future__ import annotations

import asyncio

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.outcomes import Outcome
from ivr import prompts as P
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request
from ivr.runtime import answer_texts
from kb.loader import default_data_dir, load_dir
from kb.store import add_alias, import_kb
from speech.engine import SpeechEngine
from speech.espeak_tts import EspeakSynthesizer
from speech.fallback import FallbackSynthesizer
from speech.vosk_asr import VoskRecognizer
from tests.ivr.test_calls import load_call, ports, wait_closed


async def _until_the_ivr_hangs_up(runtime, question: bytes | None, timeout_s: float):  # noqa: ANN001
    """One call (speaking ``question`` after the greeting starts) until the IVR hangs up, then Asterisk's
    call-route: returns the route variables and the closed call row."""
    call = CallIdentity()
    async with runtime as rt:
        host, agi, audio = ports(rt)
        await agi_request(host, agi, "call-start", [call.uuid], call)
        peer = await AudioSocketPeer.connect(host, audio, call.uuid)
        if question is not None:
            await asyncio.sleep(0.5)
            await peer.speak(question)
        await asyncio.wait_for(peer.hung_up_by_ivr.wait(), timeout_s)
        await peer.close()
        route = await agi_request(host, agi, "call-route", [call.uuid], call)
        return route, await wait_closed(rt.settings.effective_database_url, call.uuid)


def test_recogniser_failure_apologises_and_hands_the_call_to_an_agent(settings, qa, ivr_settings, running_ivr,
                                                                     tmp_path):
    """A real engine in a broken configuration (Vosk without its model): the call still ends with a person."""
    s = ivr_settings(settings)
    speech = SpeechEngine(s, VoskRecognizer(tmp_path / "no-model"), FallbackSynthesizer([EspeakSynthesizer()]))
    question = b"".join(EspeakSynthesizer().synthesize("市民卡丢了怎么补办"))
    route, row = asyncio.run(_until_the_ivr_hangs_up(running_ivr(s, speech, qa), question, timeout_s=30))
    assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == "asr_error"
    assert route["HOTLINE_ROUTE"] == "queue"
    _, turns, _ = load_call(s.effective_database_url, row.call_uuid)
    assert [t.text for t in turns if t.speaker == "ivr"][-2:] == [P.SPEECH_FAILED, P.TRANSFERRING]


def test_synthesiser_failure_still_hands_the_call_to_an_agent(settings, qa, ivr_settings, running_ivr, tmp_path):
    """No voice at all (espeak-ng binary missing): nothing can be said, but the call is not dropped."""
    s = ivr_settings(settings, prompt_cache_dir=tmp_path / "prompts")
    mute = FallbackSynthesizer([EspeakSynthesizer(binary=str(tmp_path / "no-espeak"))])
    speech = SpeechEngine(s, VoskRecognizer(tmp_path / "no-model"), mute)
    route, row = asyncio.run(_until_the_ivr_hangs_up(running_ivr(s, speech, qa), None, timeout_s=20))
    assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == "tts_error"
    assert route["HOTLINE_ROUTE"] == "queue"


def test_the_opening_sentences_of_answers_are_prerendered_in_the_background(settings, qa, ivr_settings, running_ivr,
                                                                          tmp_path):
    s = ivr_settings(settings, prompt_cache_dir=tmp_path / "prompts", tts_engine="espeak", prerender_answers=6)
    speech = SpeechEngine.from_settings(s)
    texts = answer_texts(qa)
    assert len(texts) > 1000 and len(set(texts)) > 1000  # every item and bundle, every aspect

    async def scenario():
        async with running_ivr(s, speech, qa) as rt:
            await next(t for t in rt._tasks if t.get_name() == "answer-prerender")
            return list(rt.prerendered)

    whole = asyncio.run(scenario())
    openings = {speech.sentences(t)[0] for t in texts[:6]}
    assert all(speech.cache.get(sentence) for sentence in openings)
    assert whole == list(dict.fromkeys(texts[:6]))  # ... and those few answers whole
    assert all(speech.cached_audio(t) for t in whole)
    later = [t for t in texts[6:] if speech.sentences(t)[0] not in openings]
    assert speech.cache.get(speech.sentences(later[0])[0]) is None  # beyond the configured number: not rendered


def test_a_knowledge_base_edit_renders_the_new_answers_openings(settings, ivr_settings, running_ivr, tmp_path,
                                                                monkeypatch):
    import ivr.runtime

    monkeypatch.setattr(ivr.runtime, "KB_POLL_S", 0.1)
    s = ivr_settings(settings, prompt_cache_dir=tmp_path / "prompts", tts_engine="espeak", prerender_answers=2)
    factory = make_sessionmaker(make_engine(s.effective_database_url))
    with session_scope(factory) as db:
        import_kb(db, load_dir(default_data_dir()), "test")
    speech = SpeechEngine.from_settings(s)

    def prerenders(rt) -> list[asyncio.Task]:
        return [t for t in rt._tasks if t.get_name() == "answer-prerender"]

    async def scenario():
        async with running_ivr(s, speech, None) as rt:  # the runtime's own KnowledgeReloader, watching the DB
            await prerenders(rt)[0]
            with session_scope(factory) as db:
                add_alias(db, "GA-001", "汪星人上户口", "test")  # a new KB revision
            for _ in range(100):
                if len(prerenders(rt)) == 2:
                    break
                await asyncio.sleep(0.05)
            await prerenders(rt)[-1]
            return len(prerenders(rt)), rt.knowledge.source

    count, source = asyncio.run(scenario())
    factory.kw["bind"].dispose()
    assert count == 2 and source.startswith("database revision")
