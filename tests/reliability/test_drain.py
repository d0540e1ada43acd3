"""SIGTERM: the gateway stops accepting, lets an in-flight TTS stream finish, then exits in time."""

from __future__ import annotations

import io
import signal
import threading
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.support.gateway_process import gateway_process

pytestmark = pytest.mark.slow

DRAIN_S = 20
# About a minute of speech: several seconds of synthesis even on a fast CPU.
TEXT = " ".join(f"Sentence number {n} is read aloud while the gateway is asked to stop." for n in range(20))


def _duration(wav: bytes) -> float:
    with av.open(io.BytesIO(wav)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate


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

        # New connections are refused while the stream is still being served.
        refused_at = None
        while time.monotonic() - signalled < 10:
            try:
                httpx.get(f"{gateway.url}/health/live", timeout=1)
            except httpx.ConnectError:
                refused_at = time.monotonic()
                break
            time.sleep(0.05)
        assert refused_at is not None, "the gateway still accepted connections after SIGTERM"

        client.join(DRAIN_S + 10)
        assert "error" not in outcome, outcome
        assert outcome.get("status") == 200
        assert refused_at < outcome["ended"], "the stream had ended before new connections were refused"
        # The whole utterance arrived as valid audio: 20 sentences of about 3 s each.
        assert _duration(bytes(received)) > 30

        gateway.process.wait(DRAIN_S + 10)
        assert time.monotonic() - signalled < DRAIN_S + 5
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit reads "SIGTERM".
        assert gateway.process.returncode in (0, -signal.SIGTERM), gateway.log()[-2000:]
        assert "Application shutdown complete" in gateway.log()
