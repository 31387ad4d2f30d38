"""The admin panel under hostile input, over real HTTP against the real app (werkzeug server, SQLite file).

An attacker here is a caller (anything said becomes a transcript agents read), a logged-in user of the wrong
role, a page on another site posting forms into an open session, or someone guessing passwords. Each test's
docstring says what was sent and what must hold. The payloads are rendered in real Chromium in
test_admin_hostile_browser.py; this module checks the HTTP side (status codes, bytes, database rows).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from markupsafe import escape
from werkzeug.serving import make_server

from admin import create_app
from admin.services.login_limit import LoginLimiter
from booking.store import BookingRequest, BookingStore
from hotline.config import Settings, load_settings
from hotline.db import make_engine, make_sessionmaker, upgrade
from hotline.models import Call, CallbackTask, CallEvent, CallTurn, User, utcnow
from tests.wavs import write_wav

PASSWORD = "hostile-pass-1"
NUMBER = "13812345678"  # the caller's full number: agents may only ever see 138****5678
MASKED = "138****5678"
BOOKING_PHONE = "13955554444"
SECRET = "TOP-SECRET-OUTSIDE-RECORDINGS"
NOW = datetime(2026, 3, 2, 8, 0)  # a Monday before opening (booking store uses naive local time)

# What a caller can say (the recogniser writes whatever it heard) and what an editor can type.
PAYLOADS = (
    "<script>window.__xss=1;alert('s')</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "<svg onload=alert(1)>",
    "'><a href=\"javascript:alert(2)\">点我</a>",
)
SQLISH = ("' OR 1=1 --", "'; DROP TABLE calls; --", "%", "_", "%_%", "GA-001' OR '1'='1", '" OR ""="')
TRAVERSAL = ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "outside-link.wav", "../secret.txt",
             "%2e%2e/secret.txt", "utterances/../../secret.txt")



@dataclass
class World:
    settings: Settings
    base: str
    db_path: Path
    factory: object
    app: object
    ids: dict[str, int] = field(default_factory=dict)
    booking_code: str = ""
    caller_uuid: str = ""

    def rows(self) -> list[str]:
        """Every row of every table as SQL text: equal before and after means nothing changed."""
        conn = sqlite3.connect(self.db_path)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()


class Browser:
    """A requests session that logs in through the form and reads CSRF tokens like a page would."""

    TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **kw)

    def post(self, path: str, data: dict | None = None, **kw) -> requests.Response:
        return self.http.post(self.base + path, data=data or {}, allow_redirects=False, timeout=30, **kw)

    def token(self, path: str = "/login") -> str:
        match = self.TOKEN.search(self.get(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, username: str, password: str = PASSWORD) -> requests.Response:
        return self.post("/login", {"username": username, "password": password, "csrf_token": self.token()})


def _seed(world: World) -> None:
    rec = world.settings.recording_dir
    write_wav(rec / "call-1.wav")
    write_wav(rec / "utterances" / "u1.wav")
    (rec.parent / "secret.txt").write_text(SECRET, encoding="utf-8")
    (rec / "outside-link.wav").symlink_to(rec.parent / "secret.txt")
    started = utcnow() - timedelta(minutes=4)
    with world.factory() as s:
        for name, role, ext in (("boss", "admin", None), ("agent1", "agent", "PJSIP/agent1"),
                                ("agent2", "agent", None), ("victim", "admin", None)):
            user = User(username=name, role=role, extension=ext, display_name=name)
            user.set_password(PASSWORD)
            s.add(user)
        # The hostile caller: every turn a payload, waiting in the queue so the agent console shows it, and the
        # AMI events the IVR records (with CallerIDNum, as Asterisk sends it).
        call = Call(call_uuid=str(uuid.uuid4()), caller_number=NUMBER, started_at=started, outcome="escalated",
                    first_question=PAYLOADS[0], context_summary=PAYLOADS[1], item_code="GA-001",
                    item_name=PAYLOADS[3], department="公安分局", queue_state="waiting", queue_joined_at=started,
                    asterisk_uniqueid="1700000000.1", recording_path="call-1.wav", turn_count=len(PAYLOADS),
                    escalation_reason="caller_request")
        world.caller_uuid = call.call_uuid
        for seq, text in enumerate(PAYLOADS, 1):
            call.turns.append(CallTurn(seq=seq, speaker="caller", text=text, abstained=True, asr_confidence=0.7,
                                       qa_confidence=0.2, at=started + timedelta(seconds=seq),
                                       audio_path="utterances/u1.wav" if seq == 1 else None))
        call.turns.append(CallTurn(seq=len(PAYLOADS) + 1, speaker="caller", text=f"我的电话是{NUMBER}",
                                   at=started + timedelta(seconds=30)))
        call.events.append(CallEvent(asterisk_uniqueid="1700000000.1", source="ami", name="QueueCallerJoin",
                                     data={"Queue": "hotline-agents", "Position": "1", "CallerIDNum": NUMBER}))
        call.events.append(CallEvent(asterisk_uniqueid="1700000000.1", source="agi", name="call-start",
                                     data={"channel": f"PJSIP/trunk-{NUMBER}-00000001"}))
        s.add(call)
        # Calls whose stored audio paths point outside the recording directory (a tampered or buggy row).
        for n, stored in enumerate(TRAVERSAL):
            bad = Call(call_uuid=str(uuid.uuid4()), caller_number="13700000000", started_at=started - timedelta(hours=n + 1),
                       ended_at=started - timedelta(hours=n + 1) + timedelta(seconds=20), outcome="answered_by_ivr",
                       recording_path=stored)
            bad.turns.append(CallTurn(seq=1, speaker="caller", text="测试", audio_path=stored))
            s.add(bad)
        s.add(CallbackTask(number="13600001111", question=PAYLOADS[2]))
        s.commit()
        world.ids.update(call=call.id, turn=call.turns[0].id, turn2=call.turns[1].id,
                         traversal_calls=len(TRAVERSAL))
        world.ids["task"] = s.query(CallbackTask).one().id
        world.ids["victim"] = s.query(User).filter_by(username="victim").one().id
    store = BookingStore(make_engine(world.settings.effective_database_url))
    store.upsert_rule("GA-001", "养犬登记证核发", "A区 12号窗口", capacity=3)
    booking = store.book(BookingRequest("GA-001", datetime(2026, 3, 2, 10, 0), BOOKING_PHONE, name=PAYLOADS[1]), NOW)
    world.booking_code = booking.code


def serve(tmp: Path) -> Iterator[World]:
    """A migrated SQLite file with the sample KB, the hostile rows, and the real app on a free port."""
    from kb.loader import default_data_dir, load_dir
    from kb.store import import_kb

    db_path = tmp / "hotline.db"
    url = f"sqlite:///{db_path}"
    upgrade(url)
    settings = load_settings(env={}, var_dir=str(tmp / "var"), database_url=url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        import_kb(s, load_dir(default_data_dir()), "test")
        s.commit()
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    world = World(settings, f"http://127.0.0.1:{server.server_port}", db_path, factory, app)
    _seed(world)
    try:
        yield world
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from serve(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def boss(world: World) -> Browser:
    b = Browser(world.base)
    assert b.login("boss").status_code == 302
    return b


@pytest.fixture
def agent(world: World) -> Browser:
    b = Browser(world.base)
    assert b.login("agent1").status_code == 302
    return b


# ------------------------------------------------------------------------------------------------------- CSRF


def _post_targets(world: World) -> dict[str, tuple[str, dict]]:
    """Every state-changing endpoint with form data that WOULD be accepted if it carried a valid token."""
    i = world.ids
    return {
        "auth.logout": ("/logout", {}),
        "agent.mark_callback": (f"/agent/callbacks/{i['task']}", {"status": "done", "note": "forged"}),
        "agent.agent_state": ("/agent/state", {"action": "pause"}),
        "agent.callback_from_call": (f"/agent/calls/{world.caller_uuid}/callback", {"note": "forged"}),
        "webcall.start": ("/call/start", {}),
        "bookings.change": (f"/bookings/{world.booking_code}/cancel", {}),
        "bookings.capacity": ("/bookings/capacity", {"window": "A区 12号窗口", "capacity": "0"}),
        "bookings.calendar_override": ("/bookings/calendar", {"day": "2027-01-04", "is_workday": "0", "note": "x"}),
        "bookings.calendar_remove": ("/bookings/calendar/2027-01-04/remove", {}),
        "kb.edit_item": ("/kb/items/GA-001/edit", {"name": "被篡改", "legal_days": "1", "promised_days": "1"}),
        "kb.edit_item_yaml": ("/kb/items/GA-001/yaml", {"text": "code: GA-001\nname: 被篡改\n"}),
        "kb.new_item": ("/kb/items/new", {"text": "code: GA-999\nname: 伪造\n", "department": "ga"}),
        "kb.edit_department": ("/kb/departments/ga", {"name": "伪造部门", "short_name": "伪造"}),
        "kb.bundles": ("/kb/bundles", {"text": "bundles: []\n"}),
        "kb.centre": ("/kb/centre", {"text": "name: 伪造中心\n"}),
        "kb.import_kb": ("/kb/import", {}),
        "kb.import_sheet": ("/kb/import-sheet", {}),
        "labels.label": (f"/labels/{i['turn']}", {"transcript": "伪造标注", "item_code": "GA-001"}),
        "quality.teach": (f"/quality/{i['turn2']}/teach", {"question": "伪造", "item_code": "GA-001", "kind": "alias"}),
        "quality.dismiss": (f"/quality/{i['turn2']}/dismiss", {}),
        "quality.ask_box": ("/quality/ask", {"question": "狗证怎么办"}),
        "users.create": ("/users/", {"username": "mallory", "role": "admin", "password": "mallory-pass-1"}),
        "users.extension": (f"/users/{i['victim']}/extension", {"extension": "PJSIP/evil"}),
        "users.deactivate": (f"/users/{i['victim']}/deactivate", {}),
        "users.activate": (f"/users/{i['victim']}/activate", {}),
    }


def test_csrf_targets_cover_every_post_route(world):
    """A new form cannot escape the CSRF test: every POST route of the app (except the login form, tested
    apart, and ops endpoints that take no form) is in the table the next test forges requests against."""
    posts = {r.endpoint for r in world.app.url_map.iter_rules()
             if "POST" in (r.methods or ()) and not r.endpoint.startswith("ops.") and r.endpoint != "auth.login"}
    assert posts == set(_post_targets(world))


@pytest.mark.parametrize("token", ["missing", "garbage", "other-session"])
def test_forged_posts_are_rejected_and_change_nothing(world, boss, token):
    """Sent: every state-changing form of the panel as the logged-in admin, with valid form data but the CSRF
    token missing, garbage, or a real token from another user's session. Must hold: 400 each time, the
    database identical row for row afterwards (no user made, no KB edit, no booking cancelled), and the admin
    still logged in (the forged logout did nothing)."""
    other = Browser(world.base)
    assert other.login("agent2").status_code == 302
    forged = {"missing": None, "garbage": "x" * 91, "other-session": other.token("/agent/")}[token]
    before = world.rows()
    for endpoint, (path, data) in _post_targets(world).items():
        body = dict(data)
        if forged is not None:
            body["csrf_token"] = forged
        resp = boss.post(path, body)
        assert resp.status_code == 400, (endpoint, resp.status_code)
        assert "表单已失效" in resp.text or "请求参数有误" in resp.text, endpoint
    assert world.rows() == before
    assert boss.get("/calls/").status_code == 200


def test_login_without_csrf_token_does_not_log_in(world):
    """Sent: the login form with the right password but no CSRF token (a login-CSRF page planting its own
    session). Must hold: no session is established — the next page still redirects to /login."""
    b = Browser(world.base)
    b.get("/login")
    resp = b.post("/login", {"username": "boss", "password": PASSWORD})
    assert resp.status_code == 400 and "表单已失效" in resp.text
    assert b.get("/calls/").status_code == 302


# -------------------------------------------------------------------------------------------------------- XSS


def _shown_inert(html: str, payload: str) -> None:
    assert payload not in html or escape(payload) == payload, payload
    assert str(escape(payload)) in html, payload


def _no_script_urls(html: str) -> None:
    assert not re.search(r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", html, re.I)


def test_caller_transcript_payloads_are_escaped_wherever_agents_and_admins_read_them(world, boss, agent):
    """Sent: a caller whose every utterance is a markup payload (<script>, "><img onerror>, javascript: URL,
    <svg onload>, a javascript: link), also as first question, item name and context summary. Must hold: the
    call list, call detail, agent console (HTML and the JSON its script renders), quality queue and labelling
    page contain each payload only HTML-escaped, the JSON carries it as plain text, and no attribute anywhere
    holds a javascript: URL."""
    i = world.ids
    pages = {
        "/calls/": (agent, PAYLOADS[:1]),
        f"/calls/{i['call']}": (agent, PAYLOADS),
        "/agent/": (agent, PAYLOADS),
        "/quality/": (boss, PAYLOADS),
        f"/quality/{i['turn']}/teach": (boss, PAYLOADS[:1]),
        f"/labels/{i['turn']}": (agent, PAYLOADS[:1]),
        "/dashboard/": (boss, PAYLOADS[:1]),
    }
    for path, (who, payloads) in pages.items():
        resp = who.get(path)
        assert resp.status_code == 200, path
        for p in payloads:
            _shown_inert(resp.text, p)
        _no_script_urls(resp.text)
    queue = agent.get("/agent/queue.json").json()["callers"][0]
    assert queue["transcript"][:len(PAYLOADS)] == list(PAYLOADS)
    assert (queue["question"], queue["summary"]) == (PAYLOADS[0], PAYLOADS[1])
    assert agent.get("/agent/queue.json").headers["Content-Type"].startswith("application/json")


def test_kb_edit_payloads_are_stored_as_text_and_shown_escaped(world, boss, agent):
    """Sent: the KB item edit form with payloads as item name, spoken aliases, conditions, steps and location,
    then the full-YAML editor with payloads as materials and an FAQ. Must hold: saved (they are just text to
    the KB), and the item page — as the admin and as an agent — and the KB list show each only escaped."""
    code = "GA-002"
    resp = boss.post(f"/kb/items/{code}/edit", {
        "csrf_token": boss.token(f"/kb/items/{code}/edit"), "name": PAYLOADS[0], "aliases": "\n".join(PAYLOADS[1:4]),
        "conditions": PAYLOADS[4], "steps": PAYLOADS[3], "location": PAYLOADS[1], "hours": "", "phone": "",
        "legal_days": "5", "promised_days": "3", "fee_standard": "",
    })
    assert resp.status_code == 302, resp.text[:2000]
    yaml_text = boss.get(f"/kb/items/{code}/yaml").text
    from html import unescape

    import yaml as yamllib

    data = yamllib.safe_load(unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", yaml_text, re.S).group(1)))
    data["materials"] = [{"name": PAYLOADS[3], "form": "原件", "copies": 1, "required": True, "note": PAYLOADS[4]}]
    data["faq"] = [{"q": PAYLOADS[2], "a": PAYLOADS[0]}]
    resp = boss.post(f"/kb/items/{code}/yaml", {"csrf_token": boss.token(f"/kb/items/{code}/yaml"),
                                                "text": yamllib.safe_dump(data, allow_unicode=True)})
    assert resp.status_code == 302, resp.text[:3000]
    for who in (boss, agent):
        html = who.get(f"/kb/items/{code}").text
        for p in PAYLOADS:
            _shown_inert(html, p)
        _no_script_urls(html)
    listing = agent.get("/kb/?q=GA-002").text
    _shown_inert(listing, PAYLOADS[0])
    audit = boss.get("/kb/audit").text  # before/after as JSON: <, >, & and ' become \u003c ... escapes
    assert PAYLOADS[0] not in audit and "\\u003cscript\\u003ewindow.__xss=1" in audit


def test_label_transcript_payload_is_escaped_on_the_labels_pages(world, agent, boss):
    """Sent: a label whose transcript is a payload (a labeller types anything). Must hold: stored as given,
    and the 'recent labels' list and the report show it escaped."""
    turn = world.ids["turn"]
    resp = agent.post(f"/labels/{turn}", {"csrf_token": agent.token(f"/labels/{turn}"), "transcript": PAYLOADS[3],
                                          "item_code": "GA-001"})
    assert resp.status_code == 302
    html = agent.get("/labels/?before=1").text
    _shown_inert(html, PAYLOADS[3])
    _shown_inert(html, PAYLOADS[0])  # what the recogniser heard, next to it
    assert boss.get("/labels/report").status_code == 200


# ------------------------------------------------------------------------------------------ SQL-looking input


def _call_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'href="/calls/(\d+)"', html)]


def _kb_hits(html: str) -> set[str]:
    return set(re.findall(r'<td><a href="/kb/items/([^"]+)">', html))


def _kb_literal(world: World, value: str) -> set[str]:
    """Items whose code, name or an alias contains ``value`` as plain text (computed here, not by SQL)."""
    from hotline.models.kb import KBAlias, KBItem

    with world.factory() as s:
        aliases: dict[int, list[str]] = {}
        for item_id, text in s.query(KBAlias.item_id, KBAlias.text):
            aliases.setdefault(item_id, []).append(text)
        return {code for item_id, code, name in s.query(KBItem.id, KBItem.code, KBItem.name)
                if value in code or value in name or any(value in a for a in aliases.get(item_id, []))}


def test_sql_looking_filters_return_no_extra_rows_and_leave_tables_intact(world, boss, agent):
    """Sent: ' OR 1=1 --, '; DROP TABLE calls; --, bare %/_ wildcards and quote tricks in every filter and
    search: call list (item, department, number), KB search and department, bookings window, CSV exports.
    Must hold: never a server error; a value that matches nothing returns no rows; the KB search returns
    exactly the items containing the text literally (% and _ are characters, not 'match anything'); the number filter rejects non-digits with a message; the database is
    unchanged."""
    before = world.rows()
    for value in SQLISH:
        for key in ("item", "department"):
            resp = boss.get("/calls/", params={key: value})
            assert resp.status_code == 200, (key, value)
            assert _call_ids(resp.text) == [], (key, value)
            csv_rows = list(csv.reader(io.StringIO(boss.get("/calls/export.csv", params={key: value}).text)))
            assert len(csv_rows) == 1, (key, value)  # the header only
        resp = boss.get("/calls/", params={"number": value})
        assert resp.status_code == 400 and "号码只能包含数字" in resp.text
        resp = agent.get("/kb/", params={"q": value})
        assert resp.status_code == 200
        assert _kb_hits(resp.text) == _kb_literal(world, value), value
        resp = agent.get("/kb/", params={"dept": value})
        assert resp.status_code == 200 and 'href="/kb/items/' not in resp.text, value
        resp = agent.get("/bookings/", params={"day": "2026-03-02", "window": value})
        assert resp.status_code == 200 and world.booking_code not in resp.text, value
        assert agent.get("/bookings/", params={"day": value}).status_code == 400
        assert agent.get("/labels/", params={"before": value}).status_code in (200, 302)
    assert world.rows() == before
    # The literal search still works, so the filters above were really applied.
    assert len(_call_ids(boss.get("/calls/", params={"item": "GA-001"}).text)) == 1
    assert 'href="/kb/items/GA-001"' in agent.get("/kb/", params={"q": "GA-001"}).text


# ------------------------------------------------------------------------------------------- path traversal


def test_recording_paths_outside_the_recording_dir_are_never_served(world, boss):
    """Sent: audio downloads for calls and turns whose stored path is ../../etc/passwd, its URL-encoded form,
    an absolute /etc/passwd, ../secret.txt, a symlink inside the recording dir pointing at a file outside;
    and traversal spelled into the URLs themselves. Must hold: 404 (or 400) every time, and no response body
    contains the outside file's content or /etc/passwd's."""
    passwd = Path("/etc/passwd").read_text(errors="replace")[:30]
    with world.factory() as s:
        rows = s.query(Call.id, CallTurn.id).join(CallTurn).filter(Call.caller_number == "13700000000").all()
    assert len(rows) == len(TRAVERSAL)
    urls = []
    for call_id, turn_id in rows:
        urls += [f"/calls/{call_id}/recording", f"/calls/{call_id}/turns/{turn_id}/audio", f"/labels/{turn_id}/audio"]
    urls += ["/static/../../../../etc/passwd", "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/static/%2e%2e/secret.txt",
             "/static//etc/passwd", f"/calls/{world.ids['call']}/recording/../../../etc/passwd",
             f"/labels/{rows[0][1]}/audio?path=../secret.txt"]
    for url in urls:
        resp = boss.http.get(world.base + url, timeout=30)  # redirects followed: "//" is merged, then 404
        assert resp.status_code in (400, 404), (url, resp.status_code)
        assert SECRET not in resp.text and passwd not in resp.text, url
    # The real recording next to them is served, so the 404s are the path check, not a broken route.
    good = boss.get(f"/calls/{world.ids['call']}/recording")
    assert good.status_code == 200 and good.content[:4] == b"RIFF"
    # The detail page offers no player for the bad paths.
    assert "<audio" not in boss.get(f"/calls/{rows[0][0]}").text


# ----------------------------------------------------------------------------------------------- masking


def test_agent_never_sees_a_full_caller_number(world, agent, boss):
    """Sent: an agent opening every page and download that mentions the hostile call (list, detail with its
    AMI events, agent console HTML and JSON, CSV export, bookings page and CSV, labelling), and filtering the
    call list by the full number to unmask it. Must hold: the full number (and the booking phone) never
    appear — 138****5678 does; the number filter is ignored for agents. The admin sees the full number (so
    the check is not passing on an empty page). Callback tasks are the one place agents get a number: the
    caller asked to be rung back."""
    call_id = world.ids["call"]
    paths = ["/calls/", f"/calls/{call_id}", "/agent/", "/agent/queue.json", "/calls/export.csv",
             "/bookings/?day=2026-03-02", "/bookings/export.csv?from=2026-03-01&to=2026-03-05",
             f"/labels/{world.ids['turn']}", "/labels/?before=1", f"/calls/?number={NUMBER}"]
    for path in paths:
        resp = agent.get(path)
        assert resp.status_code == 200, path
        assert NUMBER not in resp.text and BOOKING_PHONE not in resp.text, path
    detail = agent.get(f"/calls/{call_id}").text
    assert f"CallerIDNum={MASKED}" in detail and f"trunk-{MASKED}-" in detail and f"我的电话是{MASKED}" in detail
    assert MASKED in agent.get("/agent/queue.json").text
    assert len(_call_ids(agent.get(f"/calls/?number={NUMBER}").text)) > 1  # filter ignored, not an oracle
    assert NUMBER in boss.get(f"/calls/{call_id}").text
    assert BOOKING_PHONE in boss.get("/bookings/?day=2026-03-02").text
    for path in ("/dashboard/", "/quality/", "/users/", "/labels/report", "/labels/export.zip"):
        assert agent.get(path).status_code == 403, path


# ------------------------------------------------------------------------------------------------ brute force


def test_login_brute_force_is_locked_for_that_user_only_until_the_window_passes(world):
    """Sent: 5 wrong passwords for 'victim' from one client, then the right one. Must hold: the right password
    is refused (429, a 'try again later' message, no session) while the window lasts; another user logging in
    from the same address meanwhile is unaffected; after the window the right password works again."""
    limiter = world.app.extensions["login_limiter"]
    world.app.extensions["login_limiter"] = LoginLimiter(per_user=5, per_ip=20, window_s=2.0)
    try:
        attacker = Browser(world.base)
        for n in range(5):
            resp = attacker.login("victim", f"guess-{n}")
            assert resp.status_code == 200 and "用户名或密码错误" in resp.text
        locked = attacker.login("victim")
        assert locked.status_code == 429 and "登录失败次数过多" in locked.text
        assert attacker.get("/calls/").status_code == 302  # not logged in
        assert Browser(world.base).login("boss").status_code == 302  # another user, same address
        time.sleep(2.2)  # let the (shortened) window pass
        assert attacker.login("victim").status_code == 302
        assert attacker.get("/calls/").status_code == 200
    finally:
        world.app.extensions["login_limiter"] = limiter


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
                                    "/\t/evil.example", "/\n/evil.example", " //evil.example", "javascript:alert(1)",
                                    "/%2F%2Fevil.example", "http:/evil.example"])
def test_login_next_parameter_never_leaves_the_site(world, target):
    """Sent: a login link whose ?next= points off-site (//host, https://, backslashes that browsers read as
    slashes, a tab or newline browsers strip, javascript:). Must hold: after logging in, the redirect stays on
    this site — the Location header is a same-origin path with no scheme or host, and no control characters."""
    b = Browser(world.base)
    b.get("/login")
    resp = b.http.post(world.base + "/login", params={"next": target}, allow_redirects=False, timeout=30,
                       data={"username": "agent2", "password": PASSWORD, "csrf_token": b.token("/login")})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    resolved = requests.compat.urljoin(world.base + "/login", location.replace("\\", "/"))
    assert resolved.startswith(world.base + "/"), location
    assert not any(c in location for c in "\t\r\n\\"), location
