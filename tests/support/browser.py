"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, once per session.

The browser gets Chromium's fake microphone, fed from a WAV file of Piper speech, so the playground's
recording and live transcription hear real words. Every network request the pages make is kept (from
the DevTools performance log) so a test can check where the page connected to; screenshots go to
test-output/playground/ in the checkout, printed at the end of the run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import REPO
from tests.support.asr import piper_speech

MIC_SENTENCE = "The quick brown fox jumps over the lazy dog."


def _executable(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed (scripts/install.sh installs chromium and chromium-driver)")


class Browser:
    def __init__(self, driver: webdriver.Chrome, shots: Path, downloads: Path) -> None:
        self.driver = driver
        self.shots = shots
        self.downloads = downloads
        self.requests: list[str] = []  # every URL any page asked for (HTTP and WebSocket)
        self.console: list[dict[str, Any]] = []

    def find(self, element_id: str) -> WebElement:
        return self.driver.find_element("id", element_id)

    def js(self, script: str, *args: object) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[], object], timeout_s: float, what: str) -> Any:
        """Poll until `condition()` is truthy; on time-out fail with a screenshot and the page's console."""
        try:
            return WebDriverWait(self.driver, timeout_s, poll_frequency=0.2).until(lambda _: condition())
        except TimeoutException:
            shot = self.screenshot("timed-out-" + "-".join(what.split()[:4]))
            self.collect_logs()
            console = "\n".join(e["message"] for e in self.console[-20:])
            body = self.driver.find_element("tag name", "body").text[-2000:]
            raise AssertionError(
                f"timed out after {timeout_s:g}s waiting for {what}; screenshot {shot}\n"
                f"console:\n{console}\npage:\n{body}"
            ) from None

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def collect_logs(self) -> None:
        """Drain the browser's logs (each read empties them) into `requests` and `console`."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif message["method"] == "Network.webSocketCreated":
                self.requests.append(params["url"])
        self.console.extend(self.driver.get_log("browser"))

    def hosts(self) -> set[str]:
        """scheme://host:port of every request that could leave the machine: blob: and data: URLs are
        made inside the page, chrome: ones are the browser's own start page."""
        self.collect_logs()
        seen = set()
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme not in ("blob", "data", "chrome", "about"):
                seen.add(f"{parts.scheme}://{parts.netloc}")
        return seen


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    work = tmp_path_factory.mktemp("chromium")
    # Kept beside the checkout (pytest keeps only its last few temporary folders), fresh each run.
    shots = REPO / "test-output" / "playground"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    mic = work / "speech.wav"
    mic.write_bytes(piper_speech([MIC_SENTENCE], pause_s=1.0).wav())
    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium", "chromium-browser")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--window-size=1280,1000",
        f"--user-data-dir={work / 'profile'}",
        # The fake microphone plays this file (looped) and needs no permission prompt.
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    downloads = work / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    service = Service(executable_path=_executable("chromedriver"), log_output=str(work / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    _screenshots.append(shots)
    try:
        yield Browser(driver, shots, downloads)
    finally:
        driver.quit()


_screenshots: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where the screenshots are (this module is a plugin: tests/conftest.py lists it)."""
    for folder in _screenshots:
        terminalreporter.write_line(f"playground screenshots: {folder}")
