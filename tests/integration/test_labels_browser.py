"""The speech labelling view in real headless Chromium: three utterances labelled with the keyboard, then the
admin report counts them (and `hotline speech eval --from-labels`, a separate process, agrees)."""

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

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from admin import create_app  # noqa: E402
from hotline.config import load_settings  # noqa: E402
from hotline.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from hotline.models import Call, CallTurn, User, utcnow  # noqa: E402
from scripts.chromium import panel_login  # noqa: E402
from tests.integration import test_browser as shared  # noqa: E402
from tests.integration.test_browser import ARTIFACTS, PASSWORD  # noqa: E402
from tests.wavs import write_wav  # noqa: E402

browser = shared.browser  # the same headless Chromium fixture (module scope)

HEARD = [("狗正怎么办理", "GA-002"), ("明天会下雨吗", None), ("市民卡丢了怎么补办", "SMK-001")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from kb.loader import default_data_dir, load_dir
    from kb.store import import_kb

    root = tmp_path_factory.mktemp("labels-browser")
    url = f"sqlite:///{root / 'hotline.db'}"
    upgrade(url)
    settings = load_settings(env={}, var_dir=str(root / "var"), database_url=url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        import_kb(s, load_dir(default_data_dir()), "test")
        for name, role in (("boss", "admin"), ("agent1", "agent")):
            user = User(username=name, role=role, display_name=name)
            user.set_password(PASSWORD)
            s.add(user)
        started = utcnow() - timedelta(minutes=10)
        call = Call(call_uuid=str(uuid.uuid4()), caller_number="13812345678", started_at=started, turn_count=3)
        for seq, (text, item) in enumerate(HEARD, 1):
            write_wav(settings.recording_dir / "utterances" / f"u{seq}.wav", seconds=0.5 + seq / 10)
            call.turns.append(CallTurn(seq=seq, speaker="caller", kind="speech", text=text, item_code=item,
                                       asr_confidence=0.6, audio_path=f"utterances/u{seq}.wav",
                                       at=started + timedelta(seconds=seq * 10)))
        s.add(call)
        s.commit()
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"settings": settings, "base": f"http://127.0.0.1:{server.server_port}", "url": url, "root": root}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


def _label_page(driver):
    return WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "transcript")))


def _type(element, text: str) -> None:
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)


def _next(driver, previous):
    WebDriverWait(driver, 10).until(EC.staleness_of(previous))
    return _label_page(driver)


def test_label_three_utterances_with_the_keyboard_and_the_report_counts_them(world, browser):
    panel_login(browser, world["base"], "agent1", PASSWORD)
    browser.get(f"{world['base']}/labels/")
    field = _label_page(browser)
    assert "13812345678" not in browser.page_source and "5678" not in browser.page_source
    # The utterance really plays from the server (autoplay may be refused before a key press: play explicitly).
    state = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], audio = document.getElementById("utterance");
        audio.muted = true;
        audio.play().then(() => setTimeout(() => done({t: audio.currentTime, err: null}), 300))
                    .catch(e => done({t: 0, err: String(e)}));
    """)
    assert state["err"] is None and state["t"] > 0, state

    # 1 (newest, 市民卡): the recognised text is right; Enter in the transcript field saves it as it is.
    assert field.get_attribute("value") == "市民卡丢了怎么补办"
    assert browser.switch_to.active_element == field  # focused on load: no mouse needed
    field.send_keys(Keys.ENTER)

    # 2 (明天会下雨吗): out of scope with F4 (the item field is disabled), saved with Enter.
    field = _next(browser, field)
    assert field.get_attribute("value") == "明天会下雨吗"
    field.send_keys(Keys.F4)
    assert browser.find_element(By.ID, "out-of-scope").is_selected()
    assert not browser.find_element(By.ID, "item-code").is_enabled()
    browser.save_screenshot(str(ARTIFACTS / "admin-labels.png"))
    field.send_keys(Keys.ENTER)

    # 3 (狗正怎么办理 -> 狗证怎么办理, GA-002 -> GA-001): corrected text and item, F9 would restore the heard text.
    field = _next(browser, field)
    _type(field, "错字")
    field.send_keys(Keys.F9)
    assert field.get_attribute("value") == "狗正怎么办理"
    _type(field, "狗证怎么办理")
    item = browser.find_element(By.ID, "item-code")
    _type(item, "GA-001")
    item.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "labels-done")))
    assert "狗证怎么办理" in browser.find_element(By.ID, "recent-labels").text

    panel_login(browser, world["base"], "boss", PASSWORD)
    browser.get(f"{world['base']}/labels/report")
    total = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "label-total")))
    cells = [td.text for td in total.find_elements(By.TAG_NAME, "td")]
    browser.save_screenshot(str(ARTIFACTS / "admin-labels-report.png"))
    # 3 labelled; of the two about items, 市民卡 was answered right, 狗证 wrong (GA-002); out of scope not answered.
    assert cells[1] == "3" and "50.0%" in cells[3] and "（1/2）" in cells[3] and cells[4] == "1/1", cells

    env = {**os.environ, "HOTLINE_DATABASE_URL": world["url"], "HOTLINE_VAR_DIR": str(world["root"] / "var")}
    out = subprocess.run([sys.executable, "-m", "cli", "speech", "eval", "--from-labels", "--json"],
                         env=env, capture_output=True, text=True, check=True, timeout=120)
    total = json.loads(out.stdout)["total"]
    assert (total["n"], total["items_n"], total["items_right"], total["oos_right"]) == (3, 2, 1, 1)
    assert Path(world["settings"].recording_dir).is_dir()
