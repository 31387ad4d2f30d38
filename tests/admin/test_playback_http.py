"""Playback over real HTTP (werkzeug server on a free port, requests as the browser): the agent console plays a
callback task's voicemail, the admin call view the whole-call recording; both only files inside recording_dir."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from hotline.config import Settings
from hotline.models import Call, CallbackTask
from tests.admin.conftest import PASSWORD
from tests.wavs import write_wav

_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')



@pytest.fixture
def base(app: Flask, users) -> Iterator[str]:  # noqa: ANN001
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _browser(base: str, username: str) -> requests.Session:
    http = requests.Session()
    token = _TOKEN.search(http.get(base + "/login", timeout=30).text)
    assert token, "no CSRF token on the login page"
    resp = http.post(base + "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                     allow_redirects=False, timeout=30)
    assert resp.status_code == 302, resp.text[:300]
    return http


@pytest.fixture
def seeded(settings: Settings, session: Session, tmp_path: Path) -> dict:
    rec = settings.recording_dir
    call_uuid = str(uuid.uuid4())
    whole = write_wav(rec / "20261207" / f"{call_uuid}.wav", 1.0)
    message = write_wav(rec / f"voicemail-{call_uuid}.wav", 0.5)
    (tmp_path / "outside.wav").write_bytes(b"RIFF-secret")
    call = Call(call_uuid=call_uuid, caller_number="13800000001", outcome="callback_requested",
                recording_path=f"20261207/{call_uuid}.wav")
    session.add(call)
    session.flush()
    tasks = {
        "voicemail": CallbackTask(call_id=call.id, number="13800000001", question="语音留言",
                                  audio_path=f"voicemail-{call_uuid}.wav"),
        "none": CallbackTask(number="13800000002", question="办证"),
        "dotdot": CallbackTask(number="13800000003", question="x", audio_path="../outside.wav"),
        "absolute": CallbackTask(number="13800000004", question="y", audio_path=str(tmp_path / "outside.wav")),
        "missing": CallbackTask(number="13800000005", question="z", audio_path=f"voicemail-{uuid.uuid4()}.wav"),
    }
    session.add_all(tasks.values())
    session.commit()
    return {"call": call.id, "tasks": {k: t.id for k, t in tasks.items()}, "whole": whole, "message": message}


@pytest.mark.parametrize("role", ["agent1", "boss"])
def test_the_agent_console_plays_a_voicemail(base: str, seeded: dict, role: str) -> None:
    http = _browser(base, role)
    page = http.get(base + "/agent/", timeout=30)
    assert page.status_code == 200
    players = re.findall(r'<audio class="voicemail"[^>]* src="([^"]+)"', page.text)
    assert players == [f"/agent/callbacks/{seeded['tasks']['voicemail']}/audio"]  # only the playable one
    assert "media-src 'self'" in page.headers["Content-Security-Policy"]
    audio = http.get(base + players[0], timeout=30)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.content == seeded["message"]
    part = http.get(base + players[0], headers={"Range": "bytes=0-3"}, timeout=30)  # the player seeks
    assert part.status_code == 206 and part.content == b"RIFF"
    for name in ("none", "dotdot", "absolute", "missing"):
        assert http.get(base + f"/agent/callbacks/{seeded['tasks'][name]}/audio", timeout=30).status_code == 404, name
    assert http.get(base + "/agent/callbacks/999999/audio", timeout=30).status_code == 404


def test_voicemail_needs_a_login(base: str, seeded: dict) -> None:
    resp = requests.get(base + f"/agent/callbacks/{seeded['tasks']['voicemail']}/audio", allow_redirects=False,
                        timeout=30)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_admin_call_view_plays_the_whole_call(base: str, seeded: dict) -> None:
    http = _browser(base, "boss")
    page = http.get(base + f"/calls/{seeded['call']}", timeout=30)
    src = re.search(r'<audio id="call-recording"[^>]* src="([^"]+)"', page.text)
    assert src and src.group(1) == f"/calls/{seeded['call']}/recording"
    audio = http.get(base + src.group(1), timeout=30)
    assert audio.status_code == 200 and audio.content == seeded["whole"]


def test_the_call_view_plays_the_call_s_voicemail(base: str, seeded: dict) -> None:
    http = _browser(base, "boss")
    page = http.get(base + f"/calls/{seeded['call']}", timeout=30)
    players = re.findall(r'<audio class="voicemail"[^>]* src="([^"]+)"', page.text)
    assert players == [f"/agent/callbacks/{seeded['tasks']['voicemail']}/audio"]
    assert http.get(base + players[0], timeout=30).content == seeded["message"]
