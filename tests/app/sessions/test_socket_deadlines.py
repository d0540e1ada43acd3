"""Every WebSocket route has both deadlines of app.sessions.sockets, against the real gateway (uvicorn,
the Piper voice, a real ASR worker): a client that sends nothing is closed after WS_IDLE_TIMEOUT_S, and
one that keeps talking is closed at WS_MAX_SESSION_S, each with the error frame and 1008."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.main import create_app
from tests.support import ServerThread, voice_ready, wait_until
from tests.support.asr import Worker, gateway_settings

IDLE_S = 1.0
SESSION_S = 3.0
SILENCE = b"\0" * 3200  # 100 ms of 16 kHz PCM16

# Each route, and a frame that keeps its session busy without ending it.
ROUTES = {
    "/v1/speak/stream?voice_id=en_us_joe": json.dumps({"type": "flush"}),
    "/v1/audio/speech/stream-input?voice=en_us_joe": json.dumps({"flush": True}),
    "/waves/v1/tts/live": json.dumps({"voice_id": "en_us_joe", "text": "", "continue": True}),
    "/v1/listen/stream": SILENCE,
    "/waves/v1/stt/live": SILENCE,
    "/v1/realtime?intent=transcription": json.dumps(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(SILENCE).decode()}
    ),
}


def _gateway(redis_url: str, worker: Worker, **limits: float) -> Iterator[ServerThread]:
    with ServerThread(create_app(gateway_settings(redis_url, worker.port, **limits))) as server:
        wait_until(lambda: voice_ready(server.url), 60, "the Piper voice")
        yield server


@pytest.fixture(scope="module")
def impatient(redis_url: str, asr_worker: Worker) -> Iterator[ServerThread]:
    yield from _gateway(redis_url, asr_worker, ws_idle_timeout_s=IDLE_S)


@pytest.fixture(scope="module")
def short_sessions(redis_url: str, asr_worker: Worker) -> Iterator[ServerThread]:
    yield from _gateway(redis_url, asr_worker, ws_max_session_s=SESSION_S)


async def _error_then_close(ws: ClientConnection, timeout_s: float) -> tuple[dict, int]:  # type: ignore[type-arg]
    """The session's error frame (other frames skipped) and the close code after it."""
    error = None
    with contextlib.suppress(ConnectionClosed):
        while True:
            message = await asyncio.wait_for(ws.recv(), timeout_s)
            if isinstance(message, str) and (parsed := json.loads(message)).get("type") == "error":
                error = parsed
    assert error is not None, "closed without an error frame"
    assert ws.close_code is not None
    return error, ws.close_code


@pytest.mark.parametrize("route", ROUTES)
async def test_an_idle_client_is_closed(impatient: ServerThread, route: str) -> None:
    started = time.monotonic()
    async with connect(impatient.url.replace("http", "ws") + route) as ws:
        error, code = await _error_then_close(ws, 15)
    assert error["error"]["param"] == "idle" and code == 1008
    assert IDLE_S <= time.monotonic() - started < IDLE_S + 10


@pytest.mark.parametrize("route", ROUTES)
async def test_a_session_is_closed_at_its_time_limit_however_busy(short_sessions: ServerThread, route: str) -> None:
    started = time.monotonic()
    async with connect(short_sessions.url.replace("http", "ws") + route) as ws:

        async def keep_talking() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.send(ROUTES[route])
                    await asyncio.sleep(0.3)

        talker = asyncio.create_task(keep_talking())
        try:
            error, code = await _error_then_close(ws, 15)
        finally:
            talker.cancel()
    assert error["error"]["param"] == "session" and "WS_MAX_SESSION_S" in error["error"]["message"]
    assert code == 1008
    assert SESSION_S <= time.monotonic() - started < SESSION_S + 10
