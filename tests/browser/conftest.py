"""A real browser against a live server: Debian's chromium, headless, driven by
chromedriver through Selenium.

Every step a test names is kept as a full-page screenshot under
``artifacts/screenshots/<test>/`` (git-ignored; CI keeps the folder as its artefact),
numbered in the order taken, so a run can be looked at afterwards page by page.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent.parent
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "artifacts" / "screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"browser tests need {', '.join(missing)}: "
            "apt-get install chromium chromium-driver (.ci/run does)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Browser:
    """One test's view of the shared browser: pages by path, named screenshots."""

    def __init__(self, driver: WebDriver, base_url: str, shots: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.taken: list[Path] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        url = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "body") -> str:
        return self.find(css).text

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def click(self, css: str) -> None:
        """Click, and when the click leaves the page, wait for the next one."""
        self._leave(self.find(css))

    def click_link(self, text: str) -> None:
        self._leave(self.driver.find_element(By.PARTIAL_LINK_TEXT, text))

    def _leave(self, element) -> None:
        page = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        # A click that stays on the page (a checkbox, a disclosure) leaves it fresh.
        with contextlib.suppress(TimeoutException):
            WebDriverWait(self.driver, 10).until(lambda _: _detached(page))
        WebDriverWait(self.driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def wait_for(self, css: str, timeout: float = 20) -> None:
        WebDriverWait(self.driver, timeout).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def login(self, username: str, password: str) -> None:
        self.open("/admin/login/?next=/admin/")
        self.fill("#id_username", username)
        self.fill("#id_password", password)
        self.click("input[type=submit], button[type=submit]")

    def shot(self, name: str) -> Path:
        """A full-page PNG of the current page (the whole document, not the window)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": math.ceil(size["width"]),
            "height": math.ceil(size["height"]),
            "scale": 1,
        }
        data = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        path = self.shots / f"{len(self.taken) + 1:02d}-{_slug(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        self.taken.append(path)
        return path


def _detached(element) -> bool:
    """Whether ``element`` left the document: stale, or (while the next page
    replaces it) no longer resolvable by the browser at all."""
    try:
        element.is_enabled()
    except WebDriverException:  # StaleElementReferenceException among them
        return True
    return False


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "page"


@pytest.fixture
def browser(chromium: WebDriver, live_server, request) -> Browser:
    shots = SHOTS / _slug(request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    chromium.delete_all_cookies()
    return Browser(chromium, live_server.url, shots)
