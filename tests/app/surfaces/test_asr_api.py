"""POST /v1/listen and GET /v1/listen/{id} against a real worker and Redis, plus the 503 paths."""

from __future__ import annotations

import time

import httpx
import numpy as np

from app.main import create_app
from tests.support import free_port
from tests.support.asr import (
    MAX_WER,
    ServerThread,
    Speech,
    gateway_settings,
    to_wav,
    wer,
)


def _check_words(words: list[dict], duration: float) -> None:
    assert words, "word timestamps were asked for"
    previous = 0.0
    for word in words:
        assert set(word) >= {"word", "start", "end", "confidence"}
        assert previous - 0.01 <= word["start"] <= word["end"] <= duration + 0.01, word
        assert 0.0 <= word["confidence"] <= 1.0
        previous = word["start"]


def test_listen_raw_wav_with_word_timestamps(gateway: ServerThread, speech: Speech) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/listen",
        params={"timestamps": "true", "language": "en"},
        content=speech.wav(),
        headers={"content-type": "audio/wav"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"request_id", "text", "language", "duration", "words", "segments"}
    assert wer(speech.text, body["text"]) <= MAX_WER, body["text"]
    assert body["language"] == "en"
    assert abs(body["duration"] - speech.duration) < 0.05
    _check_words(body["words"], body["duration"])
    # The result stays available by id.
    again = httpx.get(f"{gateway.url}/v1/listen/{body['request_id']}", timeout=10).json()
    assert again["status"] == "done" and again["text"] == body["text"]


def test_listen_multipart_without_timestamps(gateway: ServerThread, speech: Speech) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/listen", files={"audio": ("a.wav", speech.wav(), "audio/wav")}, timeout=120
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "words" not in body
    assert wer(speech.text, body["text"]) <= MAX_WER


def test_unsupported_parameters_are_422(gateway: ServerThread, speech: Speech) -> None:
    for params, param in (({"sentiment": "true"}, "sentiment"), ({"language": "de"}, "language")):
        response = httpx.post(f"{gateway.url}/v1/listen", params=params, content=speech.wav(), timeout=30)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == param


def test_bad_inputs_get_clear_errors_and_the_worker_keeps_serving(
    gateway: ServerThread, speech: Speech
) -> None:
    wav = speech.wav()
    rng = np.random.default_rng(7)
    cases = [
        (b"", {}, 400),
        (rng.integers(0, 256, 20000, dtype=np.uint8).tobytes(), {}, 415),
        (wav[: len(wav) // 2], {}, 400),  # truncated
        (wav[:30], {}, 400),  # header cut off
        (b"just some text, not audio", {"content-type": "text/plain"}, 415),
        (b"%PDF-1.4 not audio at all" * 100, {}, 415),
        (b"\0" * 5_000_001, {}, 413),  # over MAX_UPLOAD_BYTES (5 MB in this gateway)
        (to_wav(np.zeros(16000 * 121, dtype=np.int16), 16000), {}, 413),  # over MAX_AUDIO_SECONDS (120)
    ]
    for body, headers, status in cases:
        started = time.monotonic()
        response = httpx.post(f"{gateway.url}/v1/listen", content=body, headers=headers, timeout=30)
        assert response.status_code == status, (status, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"]
        assert time.monotonic() - started < 10  # answered, not queued
    # Silence is valid audio: it transcribes to (almost) nothing rather than failing.
    silent = httpx.post(
        f"{gateway.url}/v1/listen", content=to_wav(np.zeros(16000 * 2, dtype=np.int16), 16000), timeout=60
    )
    assert silent.status_code == 200 and len(silent.json()["text"].split()) <= 2
    # A different sample rate is resampled, not rejected.
    resampled = httpx.post(
        f"{gateway.url}/v1/listen", content=to_wav(speech.pcm[::2], speech.rate // 2), timeout=60
    )
    assert resampled.status_code == 200 and wer(speech.text, resampled.json()["text"]) <= MAX_WER
    assert httpx.get(f"{gateway.url}/v1/listen/doesnotexist", timeout=5).status_code == 404


def test_no_worker_answers_503_with_retry_after_quickly(redis_url: str, speech: Speech) -> None:
    settings = gateway_settings(redis_url, free_port())  # nothing listens on the ASR port
    with ServerThread(create_app(settings)) as server:
        started = time.monotonic()
        response = httpx.post(f"{server.url}/v1/listen", content=speech.wav(), timeout=10)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert elapsed < 5


def test_redis_down_answers_503(asr_worker, speech: Speech) -> None:
    settings = gateway_settings(f"redis://127.0.0.1:{free_port()}/0", asr_worker.port)
    with ServerThread(create_app(settings)) as server:
        response = httpx.post(f"{server.url}/v1/listen", content=speech.wav(), timeout=10)
    assert response.status_code == 503 and "retry-after" in response.headers
