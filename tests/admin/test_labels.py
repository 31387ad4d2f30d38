"""The labelling view and the real-voice report: roles, CSRF, safe audio, labels saved and counted."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from speech.audio import silence, write_wav
from tests.admin.conftest import csrf_token


def _utterance(make_call, settings, text="狗正怎么办", item="GA-001", name="u1.wav", stored=None):
    path = settings.recording_dir / "utterances" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, silence(100) + name.encode() * 100, 8000)
    call = make_call(caller_number="13812345678", turns=[
        {"text": text, "item_code": item, "kind": "speech", "asr_confidence": 0.62,
         "audio_path": stored or f"utterances/{name}"}])
    return call.turns[0].id


def _post(client, turn_id, **data):
    token = csrf_token(client, f"/labels/{turn_id}")
    return client.post(f"/labels/{turn_id}", data={"csrf_token": token, **data})


def test_agents_label_and_never_see_the_caller_number(agent_client, make_call, settings, kb_loaded):
    turn_id = _utterance(make_call, settings)
    resp = agent_client.get("/labels/")
    assert resp.status_code == 302 and resp.location.endswith(f"/labels/{turn_id}")
    html = agent_client.get(f"/labels/{turn_id}").get_data(as_text=True)
    assert "狗正怎么办" in html and 'id="utterance"' in html and "labels.js" in html
    assert "13812345678" not in html and "5678" not in html
    resp = _post(agent_client, turn_id, transcript="狗证怎么办", item_code="GA-001", aspect="process")
    assert resp.status_code == 302
    done = agent_client.get(resp.location, follow_redirects=True).get_data(as_text=True)
    assert "没有" in done and "狗证怎么办" in done  # nothing older left; the label is listed


def test_a_post_without_the_csrf_token_is_refused(agent_client, make_call, settings, kb_loaded):
    turn_id = _utterance(make_call, settings)
    resp = agent_client.post(f"/labels/{turn_id}", data={"transcript": "x", "item_code": "GA-001"})
    assert resp.status_code == 400


def test_an_unknown_item_is_not_saved(admin_client, make_call, settings, kb_loaded):
    turn_id = _utterance(make_call, settings)
    html = _post(admin_client, turn_id, transcript="狗证", item_code="ZZ-999").get_data(as_text=True)
    assert "知识库里没有事项 ZZ-999" in html
    report = admin_client.get("/labels/report").get_data(as_text=True)
    assert "还没有标注" in report


def test_out_of_scope_needs_no_item(admin_client, make_call, settings, kb_loaded):
    turn_id = _utterance(make_call, settings, text="明天下雨吗", item=None)
    assert _post(admin_client, turn_id, transcript="明天下雨吗", out_of_scope="y").status_code == 302
    report = admin_client.get("/labels/report").get_data(as_text=True)
    assert re.search(r'<tr id="label-total">.*?<td class="n">1</td>', report, re.S)


@pytest.mark.parametrize("stored", ["../secret_key", "/etc/passwd", "../../hotline.db", "missing.wav"])
def test_audio_is_served_only_from_inside_the_recordings(agent_client, make_call, settings, stored):
    settings.recording_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / "secret_key").touch()
    turn_id = _utterance(make_call, settings, stored=stored)
    assert agent_client.get(f"/labels/{turn_id}/audio").status_code == 404
    assert agent_client.get(f"/labels/{turn_id}").status_code == 404
    assert agent_client.get("/labels/").status_code == 200  # not offered for labelling


def test_utterance_audio_plays(agent_client, make_call, settings):
    turn_id = _utterance(make_call, settings)
    resp = agent_client.get(f"/labels/{turn_id}/audio")
    assert resp.status_code == 200 and resp.mimetype == "audio/wav" and resp.data[:4] == b"RIFF"


def test_report_and_export_are_for_admins(agent_client, admin_client, make_call, settings, kb_loaded):
    turn_id = _utterance(make_call, settings)
    _post(admin_client, turn_id, transcript="狗证怎么办", item_code="GA-001")
    assert agent_client.get("/labels/report").status_code == 403
    assert agent_client.get("/labels/export.zip").status_code == 403
    html = admin_client.get("/labels/report").get_data(as_text=True)
    assert 'data-week="' in html and "100.0% （1/1）" in html
    resp = admin_client.get("/labels/export.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        (line,) = zf.read("labels.jsonl").decode().splitlines()
        row = json.loads(line)
        assert row["transcript"] == "狗证怎么办" and row["item_code"] == "GA-001"
        assert zf.read(row["audio"])[:4] == b"RIFF"


def test_skip_moves_to_an_older_utterance(agent_client, make_call, settings):
    older = _utterance(make_call, settings, name="a.wav")
    newer = _utterance(make_call, settings, name="b.wav")
    assert agent_client.get("/labels/").location.endswith(f"/labels/{newer}")
    assert agent_client.get(f"/labels/?before={newer}").location.endswith(f"/labels/{older}")
    assert "更早" in agent_client.get(f"/labels/?before={older}").get_data(as_text=True)
