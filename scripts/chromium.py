"""Headless Chromium driven by Selenium, for the browser tests and benchmarks (Debian's chromium + chromium-driver).

One place for the flags every run needs (no sandbox as root, no background traffic, a private profile); callers add
their own (autoplay, fake microphone, trusted self-signed certificate ...).
"""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BASE_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
# The microphone is a WAV played once; ICE may pair on loopback.
FAKE_MICROPHONE = ("--use-fake-device-for-media-stream", "--allow-loopback-in-peer-connection")


def fake_microphone(wav: Path) -> tuple[str, ...]:
    """Flags that make ``wav`` the microphone (played once, then silence)."""
    return (*FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={wav}%noloop")


def chromium(profile: Path, *flags: str, window: str = "1400,1000") -> webdriver.Chrome:
    """A headless Chromium with its own profile dir, ``flags`` added to the common ones; the page console is kept
    (``driver.get_log("browser")``) for failure messages."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise RuntimeError("chromium / chromium-driver not installed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*BASE_FLAGS, f"--window-size={window}", *flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def panel_login(driver: webdriver.Chrome, base: str, username: str, password: str) -> None:
    """Log in to the admin panel at ``base`` through its form (dropping any earlier session); back once the page
    shows the logout form."""
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form.logout"))
