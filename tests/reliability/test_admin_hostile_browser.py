"""Hostile text rendered in real headless Chromium: it must stay text.

The same world as test_admin_hostile.py (a caller whose every utterance is markup, a booking under a markup
name) served over HTTP. Before any page script runs, a hook records every alert/confirm/prompt call and every
Content-Security-Policy violation: an injected <script> or on* handler that the CSP blocks still counts as a
failure, because escaping, not the CSP, is the first defence. On each page: no dialog, no violation, no element
with an on* attribute, no inline script, no javascript: link, and the cell shows the payload as its text.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.test_admin_hostile import MASKED, PASSWORD, PAYLOADS, World, serve

pytestmark = pytest.mark.integration

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from scripts.chromium import chromium, panel_login  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Runs in every document before its own scripts (CDP; not subject to the page's CSP).
HOOK = """
window.__hostile = {dialogs: [], violations: []};
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (m) { window.__hostile.dialogs.push(name + ":" + String(m)); return null; };
}
document.addEventListener("securitypolicyviolation", function (e) {
  window.__hostile.violations.push(e.violatedDirective + " " + (e.sample || e.blockedURI));
});
"""
INJECTED = """
const bad = [];
for (const el of document.querySelectorAll("*")) {
  for (const a of el.attributes) {
    if (a.name.startsWith("on")) bad.push(el.tagName + "[" + a.name + "]");
    if (/^\\s*javascript:/i.test(a.value) && ["href", "src", "action", "formaction"].includes(a.name))
      bad.push(el.tagName + "[" + a.name + "=" + a.value + "]");
  }
}
for (const s of document.querySelectorAll("script:not([src])")) bad.push("inline script");
return {bad: bad, xss: window.__xss === undefined ? null : window.__xss, hostile: window.__hostile};
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from serve(tmp_path_factory.mktemp("hostile-browser"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _inert(driver, page: str) -> None:
    """Nothing on the current page ran or was injected; the screenshot shows what an agent would see."""
    state = driver.execute_script(INJECTED)
    driver.save_screenshot(str(ARTIFACTS / f"hostile-{page}.png"))
    assert state["hostile"] is not None, "hook not installed"
    assert state["hostile"]["dialogs"] == [], state
    assert state["hostile"]["violations"] == [], state
    assert state["bad"] == [] and state["xss"] is None, state


def _texts(driver, css: str) -> list[str]:
    return [el.get_attribute("textContent") for el in driver.find_elements(By.CSS_SELECTOR, css)]


def test_caller_transcript_is_text_in_call_detail_list_and_agent_console(world, browser):
    """Sent: a caller's utterances that are <script>, "><img onerror>, javascript:, <svg onload>, a
    javascript: link (also as first question, item name, context summary). Must hold in Chromium, logged in as
    an agent: the call list, call detail and the agent console — first as served, then as re-rendered by its
    2-second refresh script — show each payload as the exact text of its cell, and nothing executes."""
    panel_login(browser, world.base, "agent1", PASSWORD)
    browser.get(f"{world.base}/calls/{world.ids['call']}")
    _inert(browser, "call-detail")
    assert _texts(browser, "table.transcript td.text") == [*PAYLOADS, f"我的电话是{MASKED}"]

    browser.get(f"{world.base}/calls/")
    assert PAYLOADS[0] in _texts(browser, "#call-list td.question")
    _inert(browser, "call-list")

    browser.get(f"{world.base}/agent/")
    browser.execute_script("for (const tr of document.querySelectorAll('#waiting tbody tr')) tr.dataset.old = '1';")
    WebDriverWait(browser, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#waiting tbody tr")
        and not d.find_elements(By.CSS_SELECTOR, "#waiting tbody tr[data-old]"))  # rows rebuilt by agent.js
    assert _texts(browser, "#waiting td.transcript") == [" / ".join([*PAYLOADS, f"我的电话是{MASKED}"])]
    assert _texts(browser, "#waiting td.question") == [PAYLOADS[0]]
    assert _texts(browser, "#waiting .summary") == [PAYLOADS[1]]
    assert PAYLOADS[3] in _texts(browser, "#waiting td.item")[0]
    _inert(browser, "agent-console")

    browser.get(f"{world.base}/bookings/?day=2026-03-02")
    assert _texts(browser, "table.bookings td:nth-child(5)") == [PAYLOADS[1]]
    _inert(browser, "bookings")


def test_teach_loop_and_kb_edit_keep_payloads_as_text(world, browser):
    """Sent (admin, through the forms in Chromium): the quality queue with the hostile questions; teaching one
    as an FAQ whose answer is a javascript: link; editing an item's name, aliases and location to payloads;
    its materials to a payload through the YAML editor. Must hold: the queue and teach page show the payloads
    as text (input value equal to the payload), the success message too, and the item page shows name,
    aliases, location, materials and FAQ as exactly the text typed — nothing runs on any of these pages."""
    panel_login(browser, world.base, "boss", PASSWORD)
    browser.get(f"{world.base}/quality/")
    assert set(PAYLOADS) <= set(_texts(browser, "#quality-queue td.question"))
    _inert(browser, "quality-queue")

    browser.get(f"{world.base}/quality/{world.ids['turn']}/teach")
    assert _texts(browser, "q.question") == [PAYLOADS[0]]
    assert browser.find_element(By.NAME, "question").get_attribute("value") == PAYLOADS[0]
    code = browser.find_element(By.NAME, "item_code")
    code.clear()
    code.send_keys("GA-003")
    Select(browser.find_element(By.NAME, "kind")).select_by_value("faq")
    browser.find_element(By.NAME, "answer").send_keys(PAYLOADS[4])
    browser.find_element(By.ID, "teach-submit").click()
    flash = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    assert flash.get_attribute("textContent") == f"已学习：「{PAYLOADS[0]}」→ GA-003"
    _inert(browser, "quality-taught")

    browser.get(f"{world.base}/kb/items/GA-004/edit")
    for name, value in (("name", PAYLOADS[1]), ("aliases", "\n".join(PAYLOADS[2:4])), ("location", PAYLOADS[3])):
        box = browser.find_element(By.NAME, name)
        box.clear()
        browser.execute_script("arguments[0].value = arguments[1];", box, value)
    browser.find_element(By.ID, "item-save").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "item-facts")))
    assert _texts(browser, "h1") == [f"GA-004 {PAYLOADS[1]}"]
    assert _texts(browser, "#item-facts dd.aliases") == ["、".join(PAYLOADS[2:4])]
    assert _texts(browser, "#item-facts dd.location") == [PAYLOADS[3]]
    _inert(browser, "kb-item-edited")

    browser.get(f"{world.base}/kb/items/GA-004/yaml")
    text = browser.find_element(By.NAME, "text")
    source = text.get_attribute("value")
    assert "materials:" in source
    import yaml

    data = yaml.safe_load(source)
    data["materials"] = [{"name": PAYLOADS[0], "form": "原件", "copies": 1, "required": True, "note": PAYLOADS[4]}]
    browser.execute_script("arguments[0].value = arguments[1];", text, yaml.safe_dump(data, allow_unicode=True))
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "item-facts")))
    assert f"{PAYLOADS[0]}（原件 1 份） {PAYLOADS[4]}" in _texts(browser, "#item-facts li")
    _inert(browser, "kb-item-materials")

    browser.get(f"{world.base}/kb/items/GA-003")
    assert PAYLOADS[0] in _texts(browser, "dl.faq dt") and PAYLOADS[4] in _texts(browser, "dl.faq dd")
    _inert(browser, "kb-item-faq")
    browser.get(f"{world.base}/kb/audit")
    _inert(browser, "kb-audit")


def test_label_transcript_payload_stays_text(world, browser):
    """Sent: an agent labelling the hostile utterance, typing <svg onload=alert(1)> as what was said. Must
    hold: the labelling page shows the recognised payload as text and pre-fills it as the input's value; after
    saving, the recent-labels table shows both as text; nothing runs."""
    panel_login(browser, world.base, "agent1", PASSWORD)
    browser.get(f"{world.base}/labels/{world.ids['turn']}")
    assert _texts(browser, "#heard-text") == [PAYLOADS[0]]
    box = browser.find_element(By.ID, "transcript")
    assert box.get_attribute("value") == PAYLOADS[0]
    _inert(browser, "label")
    box.clear()
    box.send_keys(PAYLOADS[3])
    item = browser.find_element(By.ID, "item-code")
    item.clear()
    item.send_keys("GA-001", Keys.ESCAPE)  # close the type-ahead list so it cannot swallow the click
    browser.find_element(By.ID, "label-submit").click()
    WebDriverWait(browser, 10).until(EC.staleness_of(box))
    browser.get(f"{world.base}/labels/?before=1")
    rows = [[td.get_attribute("textContent") for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#recent-labels tbody tr")]
    assert [PAYLOADS[0], PAYLOADS[3]] in [r[1:3] for r in rows], rows
    _inert(browser, "labels-recent")
