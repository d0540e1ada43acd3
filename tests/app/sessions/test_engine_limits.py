"""The engine limiters are wired in: a full engine answers 503 + Retry-After before any work or
response starts, the slot comes back when the holder ends, and /metrics shows the new series."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.sessions.admission import EngineLimiter
from tests.support import ServerThread, wait_until
from tests.support.asr import Speech
from tests.support.tts_gateway import Gateway

LONG_TEXT = " ".join(["This sentence is here to keep the voice busy for a while."] * 12)


def _limiter(engine: str, active: int = 1, waiting: int = 0) -> EngineLimiter:
    return EngineLimiter(engine, max_active=active, max_waiting=waiting, max_wait_s=0.2, retry_after_s=7)


@pytest.fixture
def one_tts_slot(tts_gateway: Gateway) -> Iterator[EngineLimiter]:
    service = tts_gateway.app.state.speech  # type: ignore[attr-defined]
    saved, service.limiter = service.limiter, _limiter("tts")
    yield service.limiter
    service.limiter = saved


def _speech(url: str, *, stream: bool, text: str = "Hello there.") -> httpx.Request:
    body = {"text": text, "stream": stream, "response_format": "pcm"}
    return httpx.Request("POST", f"{url}/v1/text-to-speech", json=body)


def test_tts_busy_is_503_with_retry_after_and_the_slot_comes_back(
    tts_gateway: Gateway, one_tts_slot: EngineLimiter
) -> None:
    with httpx.Client(timeout=30) as client:
        holder = client.send(_speech(tts_gateway.url, stream=True, text=LONG_TEXT), stream=True)
        assert holder.status_code == 200  # headers sent: the slot is held by the open stream
        refused = client.post(f"{tts_gateway.url}/v1/speak", json={"text": "Hi.", "voice_id": "en_us_joe"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "7"
        assert refused.json()["error"]["code"] == "upstream_unavailable"
        assert "tts is busy" in refused.json()["error"]["message"]
        streamed = client.send(_speech(tts_gateway.url, stream=True), stream=True)
        assert streamed.status_code == 503  # refused before a streaming response starts, too
        streamed.close()
        holder.close()  # the client leaves mid-stream: the slot must come back
        wait_until(lambda: one_tts_slot.waiting == 0 and not one_tts_slot.busy, 30, "the slot to come back")
        ok = client.post(f"{tts_gateway.url}/v1/speak", json={"text": "Hi.", "voice_id": "en_us_joe"})
        assert ok.status_code == 200 and len(ok.content) > 1000


def test_streaming_session_cap_refuses_the_handshake_and_frees_on_close(tts_gateway: Gateway) -> None:
    app = tts_gateway.app
    saved, app.state.stream_limiter = app.state.stream_limiter, _limiter("streams")  # type: ignore[attr-defined]
    ws_url = tts_gateway.url.replace("http://", "ws://") + "/v1/speak/stream"
    try:
        with connect(ws_url) as first:
            assert '"ready"' in str(first.recv(timeout=10))
            metrics = httpx.get(f"{tts_gateway.url}/metrics").text
            assert 'gateway_active_streams{kind="websocket"} 1.0' in metrics
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url, open_timeout=10)
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "7"
            assert b"streams is busy" in response.body
        # The first session closed: its slot is free again.
        with connect(ws_url, open_timeout=10) as again:
            assert '"ready"' in str(again.recv(timeout=10))
    finally:
        app.state.stream_limiter = saved  # type: ignore[attr-defined]
    metrics = httpx.get(f"{tts_gateway.url}/metrics").text
    assert 'gateway_active_streams{kind="websocket"} 0.0' in metrics


def test_streaming_http_response_counts_as_an_active_stream(tts_gateway: Gateway) -> None:
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{tts_gateway.url}/v1/text-to-speech",
                           json={"text": LONG_TEXT, "stream": True, "response_format": "pcm"}) as held:
            assert held.status_code == 200
            during = client.get(f"{tts_gateway.url}/metrics").text
        assert 'gateway_active_streams{kind="http"} 1.0' in during
        # Both synthesis metrics the issue names are exported once a request has completed.
        client.post(f"{tts_gateway.url}/v1/speak", json={"text": "Hi.", "voice_id": "en_us_joe"})
        after = client.get(f"{tts_gateway.url}/metrics").text
    assert 'gateway_active_streams{kind="http"} 0.0' in after
    assert 'tts_time_to_first_audio_seconds_count{backend="piper"}' in after
    assert 'tts_real_time_factor_count{backend="piper"}' in after
    assert "license_valid 1.0" in after  # cpu profile: LICENSE_MODE=disabled is explicit, not a failure


def test_asr_busy_is_503_and_the_slot_comes_back(gateway: ServerThread, speech: Speech) -> None:
    service = gateway.server.config.app.state.transcription  # type: ignore[attr-defined]
    saved, service.limiter = service.limiter, _limiter("asr")
    try:
        asyncio.run(service.limiter.acquire())  # a synchronous transcription holds the only slot
        refused = httpx.post(f"{gateway.url}/v1/listen", content=speech.wav(), timeout=30)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "7"
        assert "asr is busy" in refused.json()["error"]["message"]
        service.limiter.release()
        done = httpx.post(f"{gateway.url}/v1/listen", content=speech.wav(), timeout=60)
        assert done.status_code == 200, done.text
        assert "fox" in done.json()["text"].lower()
    finally:
        service.limiter = saved
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert 'asr_queue_jobs{state="waiting"} 0.0' in metrics
