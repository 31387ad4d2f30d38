"""The files Asterisk writes into RECORDING_DIR, as the IVR names them in the database.

The dialplan tells the IVR the names relative to RECORDING_DIR: the whole-call MixMonitor file
``<YYYYMMDD>/<call uuid>.wav`` (call-start) and the caller's message ``voicemail-<call uuid>.wav`` (call-voicemail).
AGI arguments are untrusted text, so a name is stored only when it has exactly that shape for this call: never an
absolute path, never ``..``, never another call's file. A message left while the IVR was down (its AGI failed) is
found on disk at the next start and filed as a callback task (``file_stray_voicemails``).
"""

from __future__ import annotations

import fcntl
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.models.calls import Call, CallbackTask
from hotline.outcomes import Outcome
from ivr.calllog import CallLog

log = logging.getLogger(__name__)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CALL_RECORDING = re.compile(rf"(?P<day>\d{{8}})/(?P<uuid>{_UUID})\.wav")
_VOICEMAIL = re.compile(rf"voicemail-(?P<uuid>{_UUID})\.wav")
VOICEMAIL_QUESTION = "语音留言"
# Record() stops a message at 120 s: a file untouched for longer than this had its AGI's chance to file it.
STRAY_AFTER_S = 180.0
LOCK_NAME = ".voicemail-filing.lock"


def call_recording_name(value: str | None, call_uuid: str) -> str | None:
    """The MixMonitor file name of ``call_uuid`` as call-start passed it, or None when absent or malformed."""
    match = _CALL_RECORDING.fullmatch(value or "")
    return match.group(0) if match and match.group("uuid") == call_uuid else None


def voicemail_name(value: str | None, call_uuid: str) -> str | None:
    """The voicemail file name of ``call_uuid`` as call-voicemail passed it, or None when absent or malformed."""
    match = _VOICEMAIL.fullmatch(value or "")
    return match.group(0) if match and match.group("uuid") == call_uuid else None


@dataclass(frozen=True)
class StrayVoicemail:
    name: str  # relative to recording_dir
    call_uuid: str
    recorded_at: datetime  # the file's last write: when the caller stopped speaking


def stray_voicemails(session: Session, recording_dir: Path, now: float | None = None,
                     min_age_s: float = STRAY_AFTER_S) -> list[StrayVoicemail]:
    """Messages in ``recording_dir`` older than ``min_age_s`` that no callback task knows: neither by its file
    nor by its call (a call with a task was already handled, e.g. the AGI filed it under an older name)."""
    now = time.time() if now is None else now
    found: dict[str, StrayVoicemail] = {}
    for path in sorted(recording_dir.glob("voicemail-*.wav")):
        match = _VOICEMAIL.fullmatch(path.name)
        try:
            mtime = path.stat().st_mtime
        except OSError:  # deleted meanwhile
            continue
        if match and path.is_file() and now - mtime > min_age_s:
            found[path.name] = StrayVoicemail(path.name, match.group("uuid"),
                                              datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None))
    if not found:
        return []
    uuids = [v.call_uuid for v in found.values()]
    filed = set(session.scalars(select(CallbackTask.audio_path).where(CallbackTask.audio_path.in_(list(found)))))
    handled = set(session.scalars(
        select(Call.call_uuid).join(CallbackTask, CallbackTask.call_id == Call.id).where(Call.call_uuid.in_(uuids))))
    return [v for v in found.values() if v.name not in filed and v.call_uuid not in handled]


async def file_stray_voicemails(calllog: CallLog, recording_dir: Path, now: float | None = None) -> int:
    """File every stray message as a callback task on its call (created when call-start never reached us): the
    caller's number from the call row if any, else "unknown"; an event on the call says where it came from.
    Awaited write by write, so a second start sees the tasks and files nothing twice; workers starting together
    (`hotline serve --workers N`, one recording dir) take turns by a lock file: the one holding it files them all,
    the others skip. Returns how many."""
    if not recording_dir.is_dir():
        return 0
    with (recording_dir / LOCK_NAME).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another IVR process is filing stray voicemails")
            return 0
        try:
            return await _file_strays(calllog, recording_dir, now)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def _file_strays(calllog: CallLog, recording_dir: Path, now: float | None) -> int:
    strays = await calllog.read(stray_voicemails, recording_dir, now)
    for stray in strays:
        known = await calllog.read(_call_outcome, stray.call_uuid)
        await calllog.callback(stray.call_uuid, None, VOICEMAIL_QUESTION, None, audio_path=stray.name)
        if known is None:  # the IVR never saw this call: the row is the message's, begun and ended with it
            await calllog.update(stray.call_uuid, started_at=stray.recorded_at, ended_at=stray.recorded_at,
                                 outcome=Outcome.CALLBACK_REQUESTED.value, route="voicemail")
        else:
            await calllog.update(stray.call_uuid, outcome=Outcome.CALLBACK_REQUESTED.value)
        await calllog.event(stray.call_uuid, "voicemail", {"file": stray.name, "filed": "at IVR start-up"})
    if strays:
        log.warning("filed %d voicemail(s) left while the IVR was unavailable as callback tasks", len(strays))
    return len(strays)


def _call_outcome(session: Session, call_uuid: str) -> str | None:
    return session.scalar(select(Call.outcome).where(Call.call_uuid == call_uuid))
