"""200 MB bodies against the real gateway process, on every route that takes a body, with a
Content-Length and chunked: each is answered 413 naming its limit, and the gateway's memory (RSS)
grows by less than 64 MiB over all of them, also with several at once. Bodies are made as they are
sent (tests/support/attacker.py): the test never holds one. The default caps apply."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import wait_until
from tests.support.asr import Speech, Worker
from tests.support.attacker import MB, Answer, body, post
from tests.support.gateway_process import GatewayProcess, gateway_process

pytestmark = pytest.mark.slow

BODY = 200 * MB
MAX_GROWTH = 64 * 1024 * 1024
LIMITS = ("MAX_JSON_BYTES", "MAX_REFERENCE_BYTES", "MAX_UPLOAD_BYTES")

ROUTES = [  # (path, how the body is made)
    ("/v1/audio/speech", "json:input"),
    ("/v1/audio/speech", "json:reference_audio"),
    ("/v1/text-to-speech", "json:text"),
    ("/v1/text-to-speech", "multipart:reference_audio"),
    ("/v1/speak", "json:text"),
    ("/waves/v1/tts", "json:text"),
    ("/waves/v1/tts/live", "json:text"),
    ("/v1/text-to-speech/en_us_joe/with-timestamps", "json:text"),
    ("/v1/text/normalize", "json:text"),
    ("/v1/listen", "raw"),
    ("/v1/listen", "multipart:audio"),
    ("/v1/audio/transcriptions", "multipart:file"),
    ("/waves/v1/stt", "raw"),
]


def _attack(gateway: GatewayProcess, path: str, shape: str, chunked: bool) -> Answer:
    parts, length, content_type = body(shape, BODY)
    port = int(gateway.url.rsplit(":", 1)[1])
    return post(port, path, parts, length=None if chunked else length, content_type=content_type)


def _rss(gateway: GatewayProcess) -> int:
    return int(psutil.Process(gateway.process.pid).memory_info().rss)


@pytest.fixture(scope="module")
def gateway(redis_url: str, asr_worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with gateway_process(redis_url, tmp_path_factory.mktemp("bodies"), ASR_PORT=str(asr_worker.port)) as running:
        wait_until(lambda: httpx.get(f"{running.url}/health?capability=all").status_code == 200, 30, "ready")
        yield running


def test_200_mb_bodies_get_413_and_the_gateway_memory_stays_flat(gateway: GatewayProcess, speech: Speech) -> None:
    # Warm up: one real request of each kind, so that what a first request loads is not counted.
    assert httpx.post(f"{gateway.url}/v1/speak", json={"text": "Hi.", "voice_id": "en_us_joe"}, timeout=60).is_success
    assert httpx.post(f"{gateway.url}/v1/listen", content=speech.wav(), timeout=60).is_success
    for path, shape in ROUTES[:2] + ROUTES[9:11]:
        _attack(gateway, path, shape, chunked=True)
    before = _rss(gateway)
    peak = before
    for path, shape in ROUTES:
        for chunked in (False, True):
            answer = _attack(gateway, path, shape, chunked)
            assert answer.status == 413, (path, shape, chunked, answer.body[:300])
            error = answer.json()["error"]
            assert error["code"] == "payload_too_large" and any(limit in error["message"] for limit in LIMITS)
            assert answer.sent < BODY * 3 // 4, (path, chunked, answer.sent)  # refused while it still came
            peak = max(peak, _rss(gateway))
    # A few at once, as the finding's attacker sent them.
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=lambda p=path, s=shape: answers.append(_attack(gateway, p, s, chunked=True)))
        for path, shape in (ROUTES[1], ROUTES[3], ROUTES[9], ROUTES[11])
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, _rss(gateway))
        for thread in threads:
            thread.join(0.05)
    assert [a.status for a in answers] == [413] * 4
    peak = max(peak, _rss(gateway))
    assert peak - before < MAX_GROWTH, f"the gateway grew by {(peak - before) / 2**20:.0f} MiB"
    # ... and it still serves: nothing it accepts is lost.
    tts = httpx.post(f"{gateway.url}/v1/speak", json={"text": "Still here.", "voice_id": "en_us_joe"}, timeout=60)
    assert tts.status_code == 200 and tts.content[:4] == b"RIFF"
    assert httpx.post(f"{gateway.url}/v1/listen", content=speech.wav(), timeout=60).json()["text"]
    assert "Traceback" not in Path(gateway.log_path).read_text(errors="replace")
