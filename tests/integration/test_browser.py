"""The panel in a real headless Chromium against the real app served over HTTP.

Covers what only a browser proves: login through the form, an <audio> element that really plays a WAV from the
server, the teach flow changing what `hotline ask` (a separate process) answers, a KB edit, and the agent
console picking up a new waiting caller without a page reload. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from admin import create_app  # noqa: E402
from hotline.config import Settings, load_settings  # noqa: E402
from hotline.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from hotline.models import Call, CallTurn, User, utcnow  # noqa: E402
from scripts.chromium import chromium, panel_login  # noqa: E402
from tests.wavs import write_wav  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-pass-1"
UNKNOWN = "帮我弄一下汪星人牌照"  # the sample KB abstains on this until it is taught



@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from kb.loader import default_data_dir, load_dir
    from kb.store import import_kb

    root = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{root / 'hotline.db'}"
    upgrade(url)
    settings: Settings = load_settings(env={}, var_dir=str(root / "var"), database_url=url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    write_wav(settings.recording_dir / "call-1.wav", 1.0)
    with factory() as s:
        import_kb(s, load_dir(default_data_dir()), "test")
        for name, role, ext in (("boss", "admin", None), ("agent1", "agent", "PJSIP/agent1")):
            user = User(username=name, role=role, extension=ext, display_name=name)
            user.set_password(PASSWORD)
            s.add(user)
        started = utcnow() - timedelta(minutes=3)
        call = Call(call_uuid=str(uuid.uuid4()), caller_number="13812345678", started_at=started,
                    ended_at=started + timedelta(seconds=40), outcome="escalated", recording_path="call-1.wav",
                    first_question=UNKNOWN, turn_count=1)
        call.turns.append(CallTurn(seq=1, speaker="caller", text=UNKNOWN, abstained=True, asr_confidence=0.8,
                                   qa_confidence=0.27, at=started + timedelta(seconds=5)))
        s.add(call)
        s.commit()
        call_id = call.id

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"settings": settings, "base": f"http://127.0.0.1:{server.server_port}", "factory": factory,
               "call_id": call_id, "url": url, "root": root}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"), "--autoplay-policy=no-user-gesture-required")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def test_login_and_play_call_recording(world, browser):
    panel_login(browser, world["base"], "boss", PASSWORD)
    browser.get(f"{world['base']}/calls/")
    browser.find_element(By.LINK_TEXT, str(world["call_id"])).click()
    audio = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "call-recording")))
    assert UNKNOWN in browser.page_source
    state = browser.execute_async_script("""
        const [audio, done] = [arguments[0], arguments[arguments.length - 1]];
        audio.muted = true;
        audio.play().then(() => setTimeout(() => done({t: audio.currentTime, d: audio.duration, err: null}), 400))
                    .catch(e => done({t: 0, d: audio.duration, err: String(e)}));
    """, audio)
    browser.save_screenshot(str(ARTIFACTS / "admin-call-detail.png"))
    assert state["err"] is None, state
    assert state["d"] == pytest.approx(1.0, abs=0.05) and state["t"] > 0


def test_teach_unanswered_question_then_hotline_ask_answers_it(world, browser):
    browser.get(f"{world['base']}/quality/")
    row = browser.find_element(By.XPATH, f"//tr[td[contains(., '{UNKNOWN}')]]")
    row.find_element(By.CSS_SELECTOR, "a.teach").click()
    question = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.NAME, "question")))
    question.clear()
    question.send_keys("汪星人牌照")
    code = browser.find_element(By.NAME, "item_code")
    code.clear()
    code.send_keys("GA-001")
    browser.save_screenshot(str(ARTIFACTS / "admin-teach.png"))
    browser.find_element(By.ID, "teach-submit").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    assert UNKNOWN not in browser.find_element(By.ID, "quality-queue").text

    env = {**os.environ, "HOTLINE_DATABASE_URL": world["url"], "HOTLINE_VAR_DIR": str(world["root"] / "var")}
    env.pop("HOTLINE_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "cli", "ask", "--json", UNKNOWN], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["item_code"] == "GA-001" and not answer["abstained"]


def test_edit_kb_item_in_the_browser(world, browser):
    browser.get(f"{world['base']}/kb/items/GA-001")
    browser.find_element(By.ID, "edit-item").click()
    location = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.NAME, "location")))
    location.clear()
    location.send_keys("A区 88号窗口")
    browser.find_element(By.ID, "item-save").click()
    facts = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "item-facts")))
    assert "A区 88号窗口" in facts.text
    assert "A区 88号窗口" in browser.find_element(By.ID, "item-history").text
    browser.save_screenshot(str(ARTIFACTS / "admin-kb-item.png"))


def test_waiting_caller_appears_in_agent_console_without_reload(world, browser):
    panel_login(browser, world["base"], "agent1", PASSWORD)
    browser.get(f"{world['base']}/agent/")
    browser.execute_script("window.__noReload = 'still-here';")
    assert "暂无等待的来电" in browser.find_element(By.ID, "waiting").text
    with world["factory"]() as s:
        call = Call(call_uuid=str(uuid.uuid4()), caller_number="13955556666", outcome="escalated",
                    queue_state="waiting", queue_joined_at=utcnow(), first_question="公积金怎么提取",
                    item_code="GJJ-001", item_name="住房公积金提取", escalation_reason="caller_request",
                    context_summary="<img src=x onerror=alert(1)>住房公积金提取：公积金怎么提取")
        call.turns.append(CallTurn(seq=1, speaker="caller", text="公积金怎么提取"))
        s.add(call)
        s.commit()
    WebDriverWait(browser, 15).until(
        lambda d: "公积金怎么提取" in d.find_element(By.ID, "waiting").text)
    text = browser.find_element(By.ID, "waiting").text
    assert "139****6666" in text and "13955556666" not in text
    assert "GJJ-001 住房公积金提取" in text and "来电人要求转人工" in text
    assert "<img src=x onerror=alert(1)>住房公积金提取" in text  # shown as text by the 2 s refresh, never markup
    assert not browser.find_elements(By.CSS_SELECTOR, "#waiting img")
    assert browser.execute_script("return window.__noReload;") == "still-here"
    browser.save_screenshot(str(ARTIFACTS / "agent-console.png"))


def test_admin_creates_agent_and_sets_extension_in_the_browser(world, browser):
    panel_login(browser, world["base"], "boss", PASSWORD)
    browser.get(f"{world['base']}/users/")
    form = browser.find_element(By.ID, "create-user")
    form.find_element(By.NAME, "username").send_keys("agent5")
    form.find_element(By.NAME, "display_name").send_keys("小李")
    form.find_element(By.NAME, "extension").send_keys("PJSIP/agent5")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    shown = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "new-password")))
    password = shown.find_element(By.TAG_NAME, "code").text
    assert len(password) >= 12
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-user=agent5]")
    assert "小李" in row.text and "坐席" in row.text
    assert row.find_element(By.NAME, "extension").get_attribute("value") == "PJSIP/agent5"
    browser.save_screenshot(str(ARTIFACTS / "admin-users.png"))
    with world["factory"]() as s:
        user = s.query(User).filter_by(username="agent5").one()
        assert user.check_password(password) and user.extension == "PJSIP/agent5"
