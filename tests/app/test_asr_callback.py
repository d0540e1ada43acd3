"""callback_url: 202 at once, the result POSTed (retried after a failure) and kept by request_id."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.main import create_app
from tests.support import free_port, wait_until
from tests.support.asr import (
    MAX_WER,
    ServerThread,
    Speech,
    Worker,
    gateway_settings,
    wer,
)


class Receiver:
    """A real HTTP server that fails its first POST (to exercise the retry) and records the rest."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                if receiver.attempts == 1:
                    self.send_response(500)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


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
    # Delivered once: no second POST arrives after the successful one.
    threading.Event().wait(2.0)
    assert receiver.attempts == 2 and len(receiver.received) == 1


def test_bad_callback_url_is_422(gateway: ServerThread, speech: Speech) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/listen",
        params={"callback_url": "ftp://example/x"},
        content=speech.wav(),
        timeout=10,
    )
    assert response.status_code == 422 and response.json()["error"]["param"] == "callback_url"
