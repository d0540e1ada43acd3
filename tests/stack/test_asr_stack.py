"""Speech-to-text in the real appliance under supervisord: a transcription end to end, and a clear
503 while the ASR worker is stopped (the stack is left healthy again)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support import Stack, http_status, wait_until
from tests.support.asr import MAX_WER, SENTENCES, piper_speech, wer

pytestmark = pytest.mark.slow


def _asr_state(stack: Stack) -> str:
    try:
        return str(httpx.get(f"{stack.url}/health", timeout=2).json()["components"]["asr"]["state"])
    except (httpx.HTTPError, KeyError, ValueError):
        return "unknown"


def test_listen_through_the_appliance_and_503_without_worker(stack: Stack) -> None:
    speech = piper_speech(SENTENCES[:1])
    response = httpx.post(f"{stack.url}/v1/listen", content=speech.wav(), timeout=60)
    assert response.status_code == 200, response.text
    assert wer(speech.text, response.json()["text"]) <= MAX_WER

    stack.supervisorctl("stop", "asr_worker")
    try:
        wait_until(lambda: _asr_state(stack) != "ready", 15, "the gateway to notice the worker is gone")
        started = time.monotonic()
        down = httpx.post(f"{stack.url}/v1/listen", content=speech.wav(), timeout=10)
        assert time.monotonic() - started < 3
        assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
        assert down.json()["error"]["code"] == "upstream_unavailable"
    finally:
        stack.supervisorctl("start", "asr_worker")
        wait_until(lambda: http_status(f"{stack.url}/health?capability=all") == 200, 60, "the stack healthy again")
