"""Redis goes away and comes back: synchronous TTS keeps working (rate limits degrade open), work
that needs the job queue gets 503 + Retry-After at once, and everything recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import RedisServer, wait_until
from tests.support.asr import Speech, start_worker
from tests.support.gateway_process import gateway_process

pytestmark = pytest.mark.slow


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path) as server:
        yield server


def _component(url: str, name: str) -> str | None:
    try:
        return httpx.get(f"{url}/health", timeout=2).json()["components"][name]["state"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def test_redis_outage_degrades_and_recovers(own_redis: RedisServer, tmp_path: Path, speech: Speech) -> None:
    worker = start_worker(own_redis.url, tmp_path, "worker-redis-down", ASR_BEAM_SIZE="1")
    try:
        with gateway_process(own_redis.url, tmp_path, ASR_PORT=str(worker.port), RATE_LIMIT_PER_MINUTE="1000") as gw:
            wait_until(lambda: _component(gw.url, "asr") == "ready", 30, "the gateway to see the worker")
            first = httpx.post(f"{gw.url}/v1/listen", content=speech.wav(), timeout=60)
            assert first.status_code == 200, first.text
            job_id = first.json()["request_id"]

            own_redis.stop()
            wait_until(lambda: _component(gw.url, "redis") not in ("ready", None), 15, "redis marked down")

            tts = httpx.post(f"{gw.url}/v1/speak", json={"text": "Still speaking.", "voice_id": "en_us_joe"},
                             timeout=30)
            assert tts.status_code == 200 and tts.content[:4] == b"RIFF"
            for url, params in (
                (f"{gw.url}/v1/listen", {}),
                (f"{gw.url}/v1/listen", {"callback_url": "http://192.0.2.1:9/hook"}),
            ):
                refused = httpx.post(url, params=params, content=speech.wav(), timeout=10)
                assert refused.status_code == 503, refused.text
                assert int(refused.headers["Retry-After"]) > 0
                assert refused.json()["error"]["code"] == "upstream_unavailable"
            lookup = httpx.get(f"{gw.url}/v1/listen/{job_id}", timeout=10)
            assert lookup.status_code == 503
            assert httpx.get(f"{gw.url}/health/live", timeout=5).status_code == 200

            own_redis.start()  # same port, empty: the worker recreates its group, the gateway re-probes

            def transcribes() -> bool:
                again = httpx.post(f"{gw.url}/v1/listen", content=speech.wav(), timeout=60)
                return again.status_code == 200 and "fox" in again.json()["text"].lower()

            wait_until(transcribes, 45, "transcription to work again", interval_s=1)
            # A pooled connection from before the outage may fail once more and mark Redis down for a
            # probe interval; the next probe marks it ready again.
            wait_until(lambda: _component(gw.url, "redis") == "ready", 10, "redis ready in /health")
            assert gw.process.poll() is None  # the same gateway process throughout
    finally:
        worker.stop()
