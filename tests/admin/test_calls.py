"""Call list, filters, paging, masking, detail, audio serving and CSV export through the real app."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from admin.services.localtime import today
from hotline.models import CallEvent, utcnow
from tests.wavs import write_wav

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'



def _ids(html: str) -> list[int]:
    import re

    return [int(m) for m in re.findall(r'href="/calls/(\d+)"', html)]


def test_list_shows_newest_first_and_filters_by_outcome_item_and_flags(admin_client, make_call):
    now = utcnow()
    a = make_call(outcome="answered_by_ivr", item_code="GA-001", started_at=now - timedelta(hours=3), min_confidence=0.9)
    b = make_call(outcome="escalated", item_code="SC-001", started_at=now - timedelta(hours=2), min_confidence=0.3)
    c = make_call(outcome="abandoned", item_code="GA-001", started_at=now - timedelta(hours=1))
    html = admin_client.get("/calls/").get_data(as_text=True)
    assert _ids(html) == [c.id, b.id, a.id]
    assert _ids(admin_client.get("/calls/?item=GA-001").get_data(as_text=True)) == [c.id, a.id]
    assert _ids(admin_client.get("/calls/?escalated=y").get_data(as_text=True)) == [b.id]
    assert _ids(admin_client.get("/calls/?abandoned=y").get_data(as_text=True)) == [c.id]
    assert _ids(admin_client.get("/calls/?low_confidence=y").get_data(as_text=True)) == [b.id]
    assert _ids(admin_client.get("/calls/?outcome=answered_by_ivr").get_data(as_text=True)) == [a.id]


def test_date_range_filter_uses_china_local_days(admin_client, make_call):
    from admin.services.localtime import day_bounds

    start, _ = day_bounds(today(), today())
    inside = make_call(started_at=start + timedelta(minutes=1))  # 00:01 local today
    make_call(started_at=start - timedelta(minutes=1))  # 23:59 local yesterday
    d = today().isoformat()
    assert _ids(admin_client.get(f"/calls/?date_from={d}&date_to={d}").get_data(as_text=True)) == [inside.id]


def test_caller_number_filter_for_admins(admin_client, make_call):
    wanted = make_call(caller_number="13900001111")
    make_call(caller_number="13900002222")
    assert _ids(admin_client.get("/calls/?number=13900001111").get_data(as_text=True)) == [wanted.id]


@pytest.mark.parametrize("query", [
    "item=GA-001' OR '1'='1", "department=x%27%20OR%201%3D1--", "number=1 OR 1=1", "outcome=escalated' --",
    "date_from=2024-01-01' OR 1=1",
])
def test_filters_are_not_injectable(admin_client, make_call, query):
    make_call(item_code="GA-001", outcome="escalated")
    resp = admin_client.get(f"/calls/?{query}")
    # Either rejected by validation or matched literally (nothing): never "all rows".
    assert resp.status_code in (200, 400)
    if resp.status_code == 200:
        assert _ids(resp.get_data(as_text=True)) == []


def test_keyset_paging_visits_every_call_once(admin_client, make_call):
    base = utcnow() - timedelta(days=1)
    made = {make_call(started_at=base + timedelta(seconds=i // 2)).id for i in range(57)}  # equal timestamps too
    seen: list[int] = []
    url = "/calls/"
    while url:
        html = admin_client.get(url).get_data(as_text=True)
        seen += _ids(html)
        import re

        m = re.search(r'href="([^"]+)" id="next-page"', html)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert len(seen) == len(set(seen)) == 57 and set(seen) == made


def test_bad_cursor_is_a_400_not_a_crash(admin_client):
    assert admin_client.get("/calls/?after=garbage").status_code == 400


def test_agents_see_masked_numbers_and_cannot_filter_by_number(agent_client, admin_client, make_call):
    call = make_call(caller_number="13812345678")
    make_call(caller_number="13900000000")
    html = agent_client.get("/calls/").get_data(as_text=True)
    assert "138****5678" in html and "13812345678" not in html
    # the number filter is ignored for agents: both calls still listed
    assert len(_ids(agent_client.get("/calls/?number=13812345678").get_data(as_text=True))) == 2
    detail = agent_client.get(f"/calls/{call.id}").get_data(as_text=True)
    assert "138****5678" in detail and "13812345678" not in detail
    assert "13812345678" in admin_client.get(f"/calls/{call.id}").get_data(as_text=True)
    csv_text = agent_client.get("/calls/export.csv").get_data(as_text=True)
    assert "13812345678" not in csv_text and "138****5678" in csv_text


def test_detail_shows_turns_latencies_dtmf_and_ami_events(admin_client, make_call, session):
    call = make_call(turns=[
        {"text": "狗证要带什么材料", "asr_confidence": 0.82, "item_code": "GA-001", "aspect": "materials",
         "qa_confidence": 0.91, "answer_text": "请带身份证", "latency_ms": {"asr": 410, "total": 690}},
        {"kind": "dtmf", "dtmf": "0", "text": None},
    ])
    session.add(CallEvent(call_id=call.id, source="ami", name="QueueCallerJoin", data={"Queue": "hotline-agents"}))
    session.commit()
    html = admin_client.get(f"/calls/{call.id}").get_data(as_text=True)
    for needle in ("狗证要带什么材料", "0.82", "GA-001 / materials", "0.91", "请带身份证", "asr 410", "按键 0",
                   "QueueCallerJoin", "Queue=hotline-agents"):
        assert needle in html, needle
    assert admin_client.get("/calls/999999").status_code == 404


def test_hostile_transcript_is_escaped_everywhere(admin_client, agent_client, make_call, session):
    call = make_call(first_question=HOSTILE, queue_state="waiting",
                     turns=[{"text": HOSTILE, "answer_text": HOSTILE, "abstained": True}])
    call.ended_at = None
    session.commit()
    for client, path in ((admin_client, "/calls/"), (admin_client, f"/calls/{call.id}"),
                         (admin_client, "/quality/"), (agent_client, "/agent/")):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path
    rows = list(csv.reader(io.StringIO(admin_client.get("/calls/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][6] == HOSTILE  # CSV keeps the text (it is data), the browser never renders it


def test_csv_neutralises_spreadsheet_formulas_and_honours_filters(admin_client, make_call):
    make_call(first_question="=HYPERLINK(\"http://evil\")", item_code="GA-001")
    make_call(first_question="普通问题", item_code="SC-001")
    resp = admin_client.get("/calls/export.csv?item=GA-001")
    assert resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "编号" and len(rows) == 2
    assert rows[1][6].startswith("'=")


def test_recording_and_turn_audio_are_served_as_wav(admin_client, make_call, settings):
    write_wav(settings.recording_dir / "2026" / "call.wav")
    write_wav(settings.recording_dir / "turn1.wav")
    call = make_call(recording_path="2026/call.wav", turns=[{"text": "你好", "audio_path": str(settings.recording_dir / "turn1.wav")}])
    html = admin_client.get(f"/calls/{call.id}").get_data(as_text=True)
    assert 'id="call-recording"' in html
    resp = admin_client.get(f"/calls/{call.id}/recording")
    assert resp.status_code == 200 and resp.mimetype == "audio/wav" and resp.data[:4] == b"RIFF"
    turn_id = call.turns[0].id
    assert admin_client.get(f"/calls/{call.id}/turns/{turn_id}/audio").data[:4] == b"RIFF"


@pytest.mark.parametrize("stored", ["../secret_key", "/etc/passwd", "../../hotline.db", "missing.wav"])
def test_audio_outside_recording_dir_is_refused(admin_client, make_call, settings, stored):
    settings.recording_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / "secret_key").touch()
    call = make_call(recording_path=stored)
    assert admin_client.get(f"/calls/{call.id}/recording").status_code == 404
    assert 'id="call-recording"' not in admin_client.get(f"/calls/{call.id}").get_data(as_text=True)


def test_symlink_escaping_recording_dir_is_refused(admin_client, make_call, settings, tmp_path):
    settings.recording_dir.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside.wav"
    write_wav(outside)
    (settings.recording_dir / "link.wav").symlink_to(outside)
    call = make_call(recording_path="link.wav")
    assert admin_client.get(f"/calls/{call.id}/recording").status_code == 404


def test_detail_shows_events_linked_only_by_asterisk_uniqueid(admin_client, make_call, session):
    call = make_call(asterisk_uniqueid="1764500000.42")
    other = make_call(asterisk_uniqueid="1764500000.43")
    session.add_all([
        CallEvent(call_id=None, asterisk_uniqueid="1764500000.42", source="ami", name="Newchannel", data={"a": "early"}),
        CallEvent(call_id=call.id, source="ivr", name="CallStarted", data=None),
        CallEvent(call_id=None, asterisk_uniqueid="1764500000.43", source="ami", name="OtherCallsEvent", data=None),
        CallEvent(call_id=other.id, source="ivr", name="OtherLinked", data=None),
    ])
    session.commit()
    html = admin_client.get(f"/calls/{call.id}").get_data(as_text=True)
    assert "Newchannel" in html and "a=early" in html and "CallStarted" in html
    assert "OtherCallsEvent" not in html and "OtherLinked" not in html
    bare = make_call()  # no uniqueid: NULL must not match every unlinked event
    html = admin_client.get(f"/calls/{bare.id}").get_data(as_text=True)
    assert "Newchannel" not in html and "OtherCallsEvent" not in html
