"""The web playground at `/`, driven by real headless Chromium against the real gateway (Piper voice,
ASR worker, Redis), with API keys on. One browser for the whole session (tests/support/browser.py);
screenshots are written to test-output/playground/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, free_port, wait_until
from tests.support.asr import MAX_WER, SENTENCES, Worker, gateway_settings, normalize, piper_speech, wer
from tests.support.browser import MIC_SENTENCE, Browser

pytestmark = pytest.mark.slow

KEY = "playground-test-key"


def _ready(url: str) -> bool:
    """The Piper voice has loaded and the gateway sees the ASR worker and Redis ready."""
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        voices = httpx.get(f"{url}/v1/voices", headers=headers, timeout=2).json()["voices"]
        components = httpx.get(f"{url}/health", headers=headers, timeout=2).json()["components"]  # details: keyed
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    voice = any(v["id"] == "en_us_joe" and v["available"] for v in voices)
    return voice and all(components[name]["state"] == "ready" for name in ("asr", "redis"))


@pytest.fixture(scope="module")
def site(redis_url: str, asr_worker: Worker) -> Iterator[str]:
    settings = gateway_settings(redis_url, asr_worker.port, api_keys=KEY, max_audio_seconds=120)
    with ServerThread(create_app(settings)) as server:
        wait_until(lambda: _ready(server.url), 90, "the gateway's voice and ASR worker")
        yield server.url


def open_page(browser: Browser, url: str, key: str = KEY) -> None:
    browser.driver.get(url + "/")
    browser.js("sessionStorage.clear()")
    browser.driver.get(url + "/")  # a fresh page with no key kept
    field = browser.find("api-key")
    field.send_keys(key)
    field.send_keys(Keys.ENTER)


def show_tab(browser: Browser, name: str) -> None:
    browser.find(f"tab-{name}").click()
    assert browser.find(f"panel-{name}").is_displayed()


def error_text(browser: Browser) -> str:
    box = browser.find("error")
    return box.text if box.is_displayed() else ""


# --- served by the gateway -------------------------------------------------------------------------


def test_page_and_files_need_no_key_and_carry_a_strict_csp(site: str) -> None:
    page = httpx.get(f"{site}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    script = httpx.get(f"{site}/playground/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == csp
    assert httpx.get(f"{site}/playground/missing.js").status_code == 404
    assert httpx.get(f"{site}/v1/voices").status_code == 401  # the API itself still needs the key


def test_playground_enabled_false_serves_no_page() -> None:
    app = create_app(GatewaySettings(playground_enabled=False, license_proxy_port=free_port()))
    client = TestClient(app)  # no lifespan needed: only routing is checked
    assert client.get("/").status_code == 404
    assert client.get("/playground/main.js").status_code == 404


def test_page_loads_without_a_license_or_key() -> None:
    """Before the license client has started (no lifespan here) every licensed route is refused;
    the page still loads, so its Status tab can say what is wrong."""
    settings = GatewaySettings(license_mode="online", api_keys=KEY, license_proxy_port=free_port())
    client = TestClient(create_app(settings))
    assert client.get("/").status_code == 200
    assert client.get("/playground/style.css").status_code == 200
    assert client.get("/v1/voices", headers={"Authorization": f"Bearer {KEY}"}).status_code == 503


# --- in the browser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "filename"),
    [("wav", "speech.wav"), ("mp3", "speech.mp3"), ("opus", "speech.ogg")],  # Web Audio, MSE, whole file
)
def test_a_chosen_voice_speaks_and_the_file_can_be_played(
    browser: Browser, site: str, fmt: str, filename: str
) -> None:
    open_page(browser, site)
    browser.wait(lambda: "voices ready" in browser.find("speak-status").text, 20, "the voice list")
    Select(browser.find("voice-backend")).select_by_value("piper")
    Select(browser.find("voice")).select_by_value("en_us_joe")
    Select(browser.find("format")).select_by_value(fmt)
    text = browser.find("text")
    text.clear()
    text.send_keys("The playground speaks this sentence out loud.")
    browser.find("speak").click()
    duration = browser.wait(
        lambda: browser.js("const d = document.getElementById('speech-audio').duration; return isFinite(d) && d"),
        60, "the audio element to get a duration",
    )
    assert 1.0 < duration < 10.0, duration
    status = browser.find("speak-status").text
    assert "Done — first audio after" in status, status
    link = browser.find("speech-download")
    assert link.is_displayed() and link.get_attribute("download") == filename
    assert error_text(browser) == ""
    browser.screenshot(f"speak-{fmt}")


def test_speak_as_i_type_streams_each_finished_sentence(browser: Browser, site: str) -> None:
    open_page(browser, site)
    browser.wait(lambda: "voices ready" in browser.find("speak-status").text, 20, "the voice list")
    text = browser.find("text")
    text.clear()
    browser.find("live-typing").click()
    text.send_keys("Every finished sentence is spoken at once. ")
    seconds = browser.wait(
        lambda: (m := re.search(r"([0-9.]+) s of audio so far", browser.find("speak-status").text))
        and float(m.group(1)),
        60, "audio from the speak WebSocket",
    )
    assert seconds > 0.5
    browser.find("live-typing").click()  # closes the stream after the rest is spoken
    assert error_text(browser) == ""


def test_what_the_voice_will_read_is_shown(browser: Browser, site: str) -> None:
    open_page(browser, site)
    browser.wait(lambda: "voices ready" in browser.find("speak-status").text, 20, "the voice list")
    Select(browser.find("voice")).select_by_value("en_us_joe")
    text = browser.find("text")
    text.clear()
    text.send_keys("Your total is ₹1,25,000, due 15/08/2024.")
    browser.find("show-reading").click()
    reading = browser.wait(lambda: browser.find("speak-reading").text, 20, "the reading")
    assert reading == "Your total is one lakh twenty-five thousand rupees, due fifteenth August twenty twenty-four."
    assert browser.find("speak-reading").get_attribute("lang") == "en-US"
    assert error_text(browser) == ""
    browser.screenshot("speak-reading")


def test_an_uploaded_file_gives_a_transcript_with_word_timings(
    browser: Browser, site: str, tmp_path: Path
) -> None:
    speech = piper_speech([SENTENCES[1]])
    path = tmp_path / "upload.wav"
    path.write_bytes(speech.wav())
    open_page(browser, site)
    show_tab(browser, "transcribe")
    browser.find("audio-file").send_keys(str(path))
    browser.wait(lambda: browser.driver.find_elements("css selector", "#transcript .word"), 60, "the transcript")
    words = browser.driver.find_elements("css selector", "#transcript .word")
    assert wer(speech.text, " ".join(w.text for w in words)) <= MAX_WER
    assert all("–" in w.get_attribute("title") for w in words)  # each word shows its timing
    # Playing the audio highlights the word being spoken.
    browser.js("const a = document.getElementById('transcribe-audio'); a.currentTime = arguments[0];",
               (float(words[2].get_attribute("title").split("–")[0]) + 0.05))
    browser.wait(lambda: browser.driver.find_elements("css selector", "#transcript .word.current"), 10,
                 "a highlighted word")
    assert browser.find("transcript").find_element("css selector", ".current").text == words[2].text
    browser.screenshot("transcribe")
    browser.find("download-srt").click()
    srt = browser.downloads / "transcript.srt"
    browser.wait(srt.exists, 60, "the SRT download")
    assert "-->" in srt.read_text()


def test_the_fake_microphone_gives_a_live_transcript(browser: Browser, site: str) -> None:
    open_page(browser, site)
    show_tab(browser, "live")
    browser.find("live-toggle").click()
    expected = set(normalize(MIC_SENTENCE).split())

    def heard() -> bool:
        said = set(normalize(browser.find("live-final").text).split())
        return len(expected & said) >= len(expected) - 1  # tiny.en may miss one word

    browser.wait(heard, 90, "the live transcript of the microphone")
    browser.screenshot("live")
    browser.find("live-toggle").click()
    browser.wait(lambda: browser.find("live-toggle").get_attribute("aria-pressed") == "false", 30, "the end")
    assert error_text(browser) == ""


def test_a_microphone_recording_is_transcribed(browser: Browser, site: str) -> None:
    open_page(browser, site)
    show_tab(browser, "transcribe")
    browser.find("record").click()
    browser.wait(lambda: browser.find("record").get_attribute("aria-pressed") == "true", 10, "recording")
    time.sleep(6)  # not a timing check: lets the fake microphone play its sentence into the recording
    browser.find("record").click()
    browser.wait(lambda: browser.driver.find_elements("css selector", "#transcript .word"), 60, "the transcript")
    said = set(normalize(browser.find("transcript").text).split())
    assert len(set(normalize(MIC_SENTENCE).split()) & said) >= 6, said


def test_a_wrong_key_shows_the_401_message(browser: Browser, site: str) -> None:
    open_page(browser, site, key="not-the-key")
    browser.wait(lambda: error_text(browser), 20, "the error message")
    message = error_text(browser)
    assert "The API key was not accepted" in message and "HTTP 401" in message and "unauthorized" in message
    browser.screenshot("wrong-key")
    # A WebSocket refused at the handshake gives the page no reason; it still says why.
    show_tab(browser, "live")
    browser.find("live-toggle").click()
    browser.wait(lambda: browser.find("live-status").text == "Could not start.", 20, "the refused stream")
    assert "The API key was not accepted" in error_text(browser)


def test_status_shows_components_license_and_figures(browser: Browser, site: str) -> None:
    open_page(browser, site)
    show_tab(browser, "status")
    browser.wait(lambda: browser.find("components").text, 20, "the components")
    rows = {r.find_element("css selector", "th").text: r.text for r in browser.find("components").find_elements(
        "css selector", "tr")}
    assert "ready" in rows["asr"] and "ready" in rows["redis"]
    assert "disabled" in rows["license"] and "unlicensed" in browser.find("license").text
    browser.wait(lambda: "requests served" in browser.find("figures").text, 10, "the live figures")
    browser.screenshot("status")


def test_status_says_what_to_do_when_something_is_down(browser: Browser, redis_url: str) -> None:
    """A gateway whose ASR worker is not there (nothing listens on its port)."""
    settings = gateway_settings(redis_url, free_port(), tts_piper_enabled=False)
    with ServerThread(create_app(settings)) as server:
        browser.driver.get(server.url + "/")
        show_tab(browser, "status")
        browser.wait(lambda: "asr is" in browser.find("advice").text, 20, "the advice")
        assert "speech-to-text worker is not ready" in browser.find("advice").text
        assert "Not ready" in browser.find("overall").text
        browser.screenshot("status-down")
        browser.collect_logs()  # this other appliance's requests are not the ones checked last
        browser.requests = [url for url in browser.requests if f"127.0.0.1:{server.port}" not in url]


def test_keyboard_and_labels(browser: Browser, site: str) -> None:
    open_page(browser, site)
    unlabelled = browser.js("""
        return [...document.querySelectorAll('input, select, textarea, button')]
          .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
          .map(el => el.id || el.outerHTML);
    """)
    assert unlabelled == []
    browser.find("tab-speak").click()
    browser.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert browser.find("tab-transcribe").get_attribute("aria-selected") == "true"
    assert browser.driver.switch_to.active_element.get_attribute("id") == "tab-transcribe"
    assert browser.find("panel-transcribe").is_displayed() and not browser.find("panel-speak").is_displayed()
    browser.driver.switch_to.active_element.send_keys(Keys.END)
    assert browser.find("panel-status").is_displayed()


def test_phone_width_has_no_horizontal_overflow(browser: Browser, site: str) -> None:
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True}
    )
    try:
        open_page(browser, site)
        for tab in ("speak", "transcribe", "live", "status"):
            show_tab(browser, tab)
            overflow = browser.js("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{tab}: {overflow}px wider than the phone"
            browser.screenshot(f"phone-{tab}")
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_page_talks_only_to_the_appliance(browser: Browser, site: str) -> None:
    """Runs last in this module: every request of the tests above went to the appliance itself."""
    open_page(browser, site)
    hosts = browser.hosts()
    host = site.removeprefix("http://")
    assert hosts <= {f"http://{host}", f"ws://{host}"}, hosts
    assert f"ws://{host}" in hosts  # the live test's WebSocket was seen, so the log is complete
    violations = [e["message"] for e in browser.console if "Content Security Policy" in e["message"]]
    assert violations == []
