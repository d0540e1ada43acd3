"""Byte caps on every body-taking route (app.sessions.bodies), played by an attacker over a raw socket
against the real gateway (uvicorn, the Piper voice, a real ASR worker): a body over its cap by
Content-Length is refused before it is sent, a chunked one as soon as it passes the cap, both with
413 naming the limit; bodies within their caps are served whole; and nothing is decoded outside an
engine slot. (Memory under 200 MB bodies: tests/reliability/test_body_memory.py.)"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.support import ServerThread, until, voice_ready, wait_until
from tests.support.asr import MAX_WER, Speech, Worker, gateway_settings, wer
from tests.support.attacker import body, post

CAPS = {"MAX_JSON_BYTES": 20_000, "MAX_REFERENCE_BYTES": 200_000, "MAX_UPLOAD_BYTES": 500_000}
HUGE = 64 * 1024 * 1024  # far more than any cap, and than the sockets' buffers hold

# (path, the cap that applies, how the body is made: json field, multipart file field, or raw)
ROUTES = [
    ("/v1/speak", "MAX_JSON_BYTES", "json:text"),
    ("/v1/text/normalize", "MAX_JSON_BYTES", "json:text"),
    ("/waves/v1/tts", "MAX_JSON_BYTES", "json:text"),
    ("/waves/v1/tts/live", "MAX_JSON_BYTES", "json:text"),
    ("/v1/text-to-speech/en_us_joe/with-timestamps", "MAX_JSON_BYTES", "json:text"),
    ("/v1/text-to-speech/en_us_joe/stream/with-timestamps", "MAX_JSON_BYTES", "json:text"),
    ("/v1/audio/speech", "MAX_REFERENCE_BYTES", "json:reference_audio"),
    ("/v1/text-to-speech", "MAX_REFERENCE_BYTES", "json:reference_audio"),
    ("/v1/text-to-speech", "MAX_REFERENCE_BYTES", "multipart:reference_audio"),
    ("/v1/listen", "MAX_UPLOAD_BYTES", "raw"),
    ("/v1/listen", "MAX_UPLOAD_BYTES", "multipart:audio"),
    ("/v1/audio/transcriptions", "MAX_UPLOAD_BYTES", "multipart:file"),
    ("/waves/v1/stt", "MAX_UPLOAD_BYTES", "raw"),
]


@pytest.fixture(scope="module")
def capped(redis_url: str, asr_worker: Worker) -> Iterator[ServerThread]:
    settings = gateway_settings(
        redis_url, asr_worker.port, max_json_bytes=CAPS["MAX_JSON_BYTES"],
        max_reference_bytes=CAPS["MAX_REFERENCE_BYTES"], max_upload_bytes=CAPS["MAX_UPLOAD_BYTES"],
    )
    with ServerThread(create_app(settings)) as server:
        wait_until(lambda: voice_ready(server.url), 60, "the Piper voice")
        wait_until(lambda: httpx.get(f"{server.url}/health?capability=all").status_code == 200, 30, "ready")
        yield server


def _refused(answer_status: int, answer: dict, cap: str) -> None:  # type: ignore[type-arg]
    assert answer_status == 413, answer
    error = answer["error"]
    assert error["code"] == "payload_too_large" and error["type"] == "invalid_request_error"
    assert f"{CAPS[cap]} bytes ({cap})" in error["message"]


@pytest.mark.parametrize(("path", "cap", "shape"), ROUTES)
def test_a_body_over_its_cap_by_content_length_is_refused_before_it_is_sent(
    capped: ServerThread, path: str, cap: str, shape: str
) -> None:
    parts, length, content_type = body(shape, HUGE)
    answer = post(capped.port, path, parts, length=length, content_type=content_type)
    _refused(answer.status, answer.json(), cap)
    assert answer.sent < length // 4  # answered long before the body was sent


@pytest.mark.parametrize(("path", "cap", "shape"), ROUTES)
def test_a_chunked_body_is_refused_once_it_passes_its_cap(
    capped: ServerThread, path: str, cap: str, shape: str
) -> None:
    parts, length, content_type = body(shape, HUGE)
    answer = post(capped.port, path, parts, length=None, content_type=content_type)
    _refused(answer.status, answer.json(), cap)
    assert answer.sent < length // 4  # refused while it was still coming


def test_bodies_within_their_caps_are_served_whole(capped: ServerThread, speech: Speech) -> None:
    """Chunked and by Content-Length, a body just under its cap reaches the engine intact."""
    wav = speech.wav()
    assert len(wav) < CAPS["MAX_UPLOAD_BYTES"]
    for length in (len(wav), None):
        pieces = (wav[i : i + 4000] for i in range(0, len(wav), 4000))
        answer = post(capped.port, "/v1/listen", pieces, length=length, content_type="audio/wav")
        assert answer.status == 200, answer.body[:300]
        assert wer(speech.text, answer.json()["text"]) <= MAX_WER
    text = "Hello there. " * ((CAPS["MAX_JSON_BYTES"] - 200) // 13)  # within the cap, over MAX_TEXT_CHARS
    parts = [json.dumps({"text": text, "voice_id": "en_us_joe"}).encode()]
    answer = post(capped.port, "/v1/speak", parts, length=None, content_type="application/json")
    assert answer.status == 413 and answer.json()["error"]["param"] == "text"  # parsed, then judged
    short = httpx.post(f"{capped.url}/v1/speak", json={"text": "Hello there.", "voice_id": "en_us_joe"}, timeout=30)
    assert short.status_code == 200 and short.content[:4] == b"RIFF"


@pytest.fixture
async def in_loop(redis_url: str, asr_worker: Worker) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The gateway on this test's event loop (its engine slots can be held from here)."""
    app = create_app(gateway_settings(
        redis_url, asr_worker.port, asr_max_active=1, asr_max_waiting=0, tts_max_active=1, tts_max_waiting=0,
    ))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield app, client


async def test_nothing_is_decoded_outside_an_engine_slot(in_loop: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """Junk audio is refused 415 by the decoder; while every slot is held, the same request gets 503 +
    Retry-After instead: it was not decoded."""
    app, client = in_loop

    async def ready() -> bool:
        return (await client.get("/health?capability=all")).status_code == 200

    await until(ready, 60, "the Piper voice and the worker")
    junk = b"not audio at all " * 100
    reference = {"text": "Hi.", "voice": "en_us_joe", "reference_transcript": "hi",
                 "reference_audio": base64.b64encode(junk).decode()}
    requests = [
        (app.state.transcription.limiter, lambda: client.post("/v1/listen", content=junk)),
        (app.state.speech.limiter, lambda: client.post("/v1/text-to-speech", json=reference)),
    ]
    for limiter, send in requests:
        await limiter.acquire()
        try:
            held = await send()
            assert held.status_code == 503 and int(held.headers["retry-after"]) > 0, held.text
            assert "busy" in held.json()["error"]["message"]
        finally:
            limiter.release()
        assert (await send()).status_code == 415  # with a slot free, it is decoded and refused
