"""callback_url: 202 at once, the result POSTed (retried after a failure) and kept by request_id."""

from __future__ import annotations

import json

import httpx

from app.main import create_app
from tests.support import wait_until
from tests.support.asr import (
    MAX_WER,
    ServerThread,
    Speech,
    Worker,
    gateway_settings,
    wer,
)
from tests.support.callbacks import Receiver


def test_callback_delivered_once_after_a_failed_attempt(
    gateway: ServerThread,
    speech: Speech,
    receiver: Receiver,
    redis_url: str,
    asr_worker: Worker,
) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/listen",
        params={"callback_url": receiver.url, "timestamps": "true"},
        content=speech.wav(),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    wait_until(lambda: len(receiver.received) == 1, 60, "the callback")
    delivered = receiver.received[0]
    assert delivered["request_id"] == request_id and delivered["status"] == "done"
    assert wer(speech.text, delivered["text"]) <= MAX_WER and delivered["words"]
    # The result lives in Redis: another gateway (a restarted one) serves it by id.
    with ServerThread(create_app(gateway_settings(redis_url, asr_worker.port))) as other:
        fetched = httpx.get(f"{other.url}/v1/listen/{request_id}", timeout=10).json()
    assert fetched["text"] == delivered["text"]
    # Delivered once: the worker finished this delivery (and acknowledged it), so no POST is owed.
    wait_until(lambda: _delivery_finished(asr_worker, request_id), 30, "the worker to finish the delivery")
    assert receiver.attempts == 2 and len(receiver.received) == 1


def _delivery_finished(worker: Worker, job_id: str) -> bool:
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    return any(e.get("msg") == "callback finished" and e.get("job_id") == job_id for e in lines)


def test_bad_callback_url_is_422(gateway: ServerThread, speech: Speech) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/listen",
        params={"callback_url": "ftp://example/x"},
        content=speech.wav(),
        timeout=10,
    )
    assert response.status_code == 422 and response.json()["error"]["param"] == "callback_url"
