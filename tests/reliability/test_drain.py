"""SIGTERM: the gateway's readiness fails and new work is refused with 503 + Retry-After at once,
while an in-flight TTS stream and a live WebSocket session run to their end; then it exits in time
(common/serving.py, common/drain.py)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import threading
import time
from pathlib import Path

import av
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.gateway_process import GatewayProcess, gateway_process

pytestmark = pytest.mark.slow

DRAIN_S = 20
# About a minute of speech: several seconds of synthesis even on a fast CPU.
TEXT = " ".join(f"Sentence number {n} is read aloud while the gateway is asked to stop." for n in range(20))


def _duration(wav: bytes) -> float:
    with av.open(io.BytesIO(wav)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


def _wait_refused(gateway: GatewayProcess, signalled: float) -> httpx.Response:
    """The first answer to new work after SIGTERM that is a refusal (the signal is handled within
    a tick of uvicorn's loop)."""
    while True:
        response = httpx.post(f"{gateway.url}/v1/text-to-speech", json={"text": "Hello."}, timeout=10)
        if response.status_code == 503:
            return response
        assert time.monotonic() - signalled < 10, "the gateway still took new work after SIGTERM"
        time.sleep(0.05)


def _assert_exits_in_time(gateway: GatewayProcess, signalled: float) -> None:
    gateway.process.wait(DRAIN_S + 15)
    assert time.monotonic() - signalled < DRAIN_S + 10
    # uvicorn re-raises a signal it shut down for, so the exit may read "SIGTERM".
    assert gateway.process.returncode in (0, -signal.SIGTERM), gateway.log()[-2000:]
    assert "Application shutdown complete" in gateway.log()


def test_sigterm_finishes_the_stream_refuses_new_work_and_exits(redis_url: str, tmp_path: Path) -> None:
    with gateway_process(redis_url, tmp_path, DRAIN_TIMEOUT_S=str(DRAIN_S)) as gateway:
        received = bytearray()
        first_bytes = threading.Event()
        outcome: dict[str, object] = {}

        def listen() -> None:
            try:
                with httpx.stream(
                    "POST", f"{gateway.url}/v1/text-to-speech",
                    json={"text": TEXT, "stream": True, "response_format": "wav"}, timeout=60,
                ) as response:
                    outcome["status"] = response.status_code
                    for chunk in response.iter_bytes():
                        received.extend(chunk)
                        first_bytes.set()
                outcome["ended"] = time.monotonic()
            except httpx.HTTPError as exc:  # an incomplete chunked body raises here
                outcome["error"] = repr(exc)
            finally:
                first_bytes.set()

        client = threading.Thread(target=listen)
        client.start()
        assert first_bytes.wait(30), "no audio arrived"
        assert "error" not in outcome, outcome
        signalled = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)

        # New work is refused, with a JSON error and Retry-After, while the stream is still served;
        # readiness fails, liveness does not.
        refused = _wait_refused(gateway, signalled)
        refused_at = time.monotonic()
        assert refused.headers["retry-after"] and refused.json()["error"]["code"] == "shutting_down"
        health = httpx.get(f"{gateway.url}/health", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "draining"
        assert httpx.get(f"{gateway.url}/health/live", timeout=5).status_code == 200

        client.join(DRAIN_S + 10)
        assert "error" not in outcome, outcome
        assert outcome.get("status") == 200
        assert refused_at < outcome["ended"], "the stream had ended before new work was refused"
        # The whole utterance arrived as valid audio: 20 sentences of about 3 s each.
        assert _duration(bytes(received)) > 30
        _assert_exits_in_time(gateway, signalled)


async def test_sigterm_lets_a_live_websocket_session_finish(redis_url: str, tmp_path: Path) -> None:
    with gateway_process(redis_url, tmp_path, DRAIN_TIMEOUT_S=str(DRAIN_S)) as gateway:
        ws_url = gateway.url.replace("http://", "ws://") + "/v1/speak/stream?voice_id=en_us_joe"
        async with connect(ws_url) as session:
            assert json.loads(await session.recv())["type"] == "ready"
            await session.send(json.dumps({"type": "text", "text": "The first sentence is spoken now."}))
            await session.send(json.dumps({"type": "flush"}))
            assert isinstance(await session.recv(), bytes)  # audio is flowing

            signalled = time.monotonic()
            gateway.process.send_signal(signal.SIGTERM)
            refused = await asyncio.to_thread(_wait_refused, gateway, signalled)
            assert refused.json()["error"]["code"] == "shutting_down"
            with pytest.raises(InvalidStatus) as handshake:  # a new session: refused in its handshake
                async with connect(ws_url):
                    pass
            assert handshake.value.response.status_code == 503
            assert handshake.value.response.headers["Retry-After"]

            # The live session goes on: more text after the signal is spoken, and it ends normally.
            await session.send(json.dumps({"type": "text", "text": "This one was written after the signal."}))
            await session.send(json.dumps({"type": "close"}))
            audio_after_signal, done = 0, None
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    message = await asyncio.wait_for(session.recv(), DRAIN_S)
                    if isinstance(message, bytes):
                        audio_after_signal += len(message)
                    elif json.loads(message)["type"] == "done":
                        done = json.loads(message)
                    else:
                        assert json.loads(message)["type"] == "flushed", message
            assert done is not None, "the session did not finish"
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
            # Both sentences' audio (16-bit PCM at 22.05 kHz or more: over a second is > 44 kB).
            assert audio_after_signal > 44_100
        await asyncio.to_thread(_assert_exits_in_time, gateway, signalled)
