"""Recording names from the dialplan, and voicemails left while the IVR was down, filed when it starts again.

The IVR runs for real (IvrRuntime.start/stop on a migrated SQLite file); the messages are files in its
recording_dir, aged with their modification time like the ones Asterisk's Record() leaves.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.calls import Call, CallbackTask, CallEvent
from hotline.outcomes import Outcome
from ivr.recordings import call_recording_name, voicemail_name

U = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "6c1e8f0a-3b2d-4e57-9a41-d2f3c4b5a697"  # another call's id: fixed, so every test worker collects the same ids


@pytest.mark.parametrize(("given", "kept"), [
    (f"20261207/{U}.wav", f"20261207/{U}.wav"),
    (f"/var/spool/asterisk/hotline/20261207/{U}.wav", None),
    (f"20261207/../{U}.wav", None),
    (f"../20261207/{U}.wav", None),
    (f"2026127/{U}.wav", None),
    (f"20261207/{U.upper()}.wav", None),
    (f"20261207/{OTHER}.wav", None),  # another call's file
    ("", None),
    (None, None),
])
def test_call_recording_name(given: str | None, kept: str | None) -> None:
    assert call_recording_name(given, U) == kept


@pytest.mark.parametrize(("given", "kept"), [
    (f"voicemail-{U}.wav", f"voicemail-{U}.wav"),
    (f"/srv/rec/voicemail-{U}.wav", None),
    (f"/srv/rec/voicemail-{U}", None),  # what the dialplan passed before: Asterisk's absolute path
    (f"sub/voicemail-{U}.wav", None),
    (f"voicemail-{U}.wav/..", None),
    (f"voicemail-{OTHER}.wav", None),
    (f"voicemail-{U}.gsm", None),
])
def test_voicemail_name(given: str, kept: str | None) -> None:
    assert voicemail_name(given, U) == kept


def _message(recording_dir: Path, call_uuid: str, age_s: float) -> str:
    recording_dir.mkdir(parents=True, exist_ok=True)
    path = recording_dir / f"voicemail-{call_uuid}.wav"
    path.write_bytes(b"RIFF....WAVE")  # the content is not read: the panel serves it as it is
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path.name


def _tasks(url: str) -> list[tuple[str, str, str, str | None, str]]:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            rows = s.execute(select(Call.call_uuid, CallbackTask.number, CallbackTask.question, CallbackTask.audio_path,
                                    Call.outcome).join(Call, CallbackTask.call_id == Call.id)
                             .order_by(CallbackTask.id)).all()
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def test_voicemails_left_while_the_ivr_was_down_are_filed_once(settings, espeak_speech, qa, ivr_settings,
                                                               running_ivr, caplog):
    s = ivr_settings(settings)
    url, rec = s.effective_database_url, s.recording_dir
    known, unknown, handled, fresh = (str(uuid.uuid4()) for _ in range(4))
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as db:
        # call-start reached the IVR (a row with the caller's number), then the IVR died before the message;
        db.add(Call(call_uuid=known, caller_number="13700000001", outcome=Outcome.CALLBACK_REQUESTED.value))
        # this one's message was filed by call-voicemail as it should be.
        call = Call(call_uuid=handled, caller_number="13700000003", outcome=Outcome.CALLBACK_REQUESTED.value)
        db.add(call)
        db.flush()
        db.add(CallbackTask(call_id=call.id, number="13700000003", question="语音留言",
                            audio_path=f"voicemail-{handled}.wav"))
    engine.dispose()
    for call_uuid in (known, unknown, handled):
        _message(rec, call_uuid, age_s=600)
    _message(rec, fresh, age_s=10)  # Record() may still be writing it, or its AGI is about to file it
    (rec / "voicemail-not-a-call.wav").write_bytes(b"x")
    os.utime(rec / "voicemail-not-a-call.wav", (time.time() - 600,) * 2)

    async def start_and_stop() -> None:
        async with running_ivr(s, espeak_speech, qa, prerender=False):
            pass

    with caplog.at_level(logging.WARNING, logger="ivr.recordings"):
        asyncio.run(start_and_stop())
    assert "filed 2 voicemail(s)" in caplog.text
    filed = _tasks(url)
    assert sorted(filed[1:]) == sorted([
        (known, "13700000001", "语音留言", f"voicemail-{known}.wav", Outcome.CALLBACK_REQUESTED.value),
        (unknown, "unknown", "语音留言", f"voicemail-{unknown}.wav", Outcome.CALLBACK_REQUESTED.value),
    ])
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as db:
        row = db.scalar(select(Call).where(Call.call_uuid == unknown))
        assert row.ended_at is not None and row.route == "voicemail"  # not an open row for the next start to close
        events = db.scalars(select(CallEvent.data).where(CallEvent.call_id == row.id, CallEvent.name == "voicemail"))
        assert [e["file"] for e in events] == [f"voicemail-{unknown}.wav"]
    engine.dispose()

    caplog.clear()
    asyncio.run(start_and_stop())  # a restart files nothing twice
    assert _tasks(url) == filed and "voicemail(s)" not in caplog.text

    _message(rec, fresh, age_s=600)  # ... and the fresh message, once old enough and still unfiled, is filed then
    asyncio.run(start_and_stop())
    assert _tasks(url)[3:] == [(fresh, "unknown", "语音留言", f"voicemail-{fresh}.wav",
                                Outcome.CALLBACK_REQUESTED.value)]


def test_a_worker_that_finds_the_filing_lock_taken_leaves_the_messages_to_the_holder(settings, espeak_speech, qa,
                                                                                      ivr_settings, running_ivr):
    """`hotline serve --workers N` starts N IVRs on one recording dir at once: only one of them files."""
    import fcntl

    from ivr.recordings import LOCK_NAME

    s = ivr_settings(settings)
    message = _message(s.recording_dir, str(uuid.uuid4()), age_s=600)

    async def start_and_stop() -> None:
        async with running_ivr(s, espeak_speech, qa, prerender=False):
            pass

    with (s.recording_dir / LOCK_NAME).open("a") as held:  # another worker is filing right now
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        asyncio.run(start_and_stop())
        assert _tasks(s.effective_database_url) == []
    asyncio.run(start_and_stop())
    assert [t[3] for t in _tasks(s.effective_database_url)] == [message]
