"""The real gateway (`create_app`) for the licensing tests, licensed online through a real license proxy,
under a real uvicorn (so streamed responses really stream), with the real Piper voice and the real
ASR worker of tests/support/asr.py; plus small clients for its WebSocket routes."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.clients.license import USAGE_OUTBOX_STREAM, LicenseClient
from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, wait_until
from tests.support.asr import to_wav

VOICE = "en_us_joe"  # the Piper voice


def silence_wav(seconds: float, rate: int = 16000) -> bytes:
    return to_wav(np.zeros(int(seconds * rate), dtype=np.int16), rate)


def wav_seconds(wav: bytes) -> float:
    """Duration of a PCM16 mono WAV as the gateway writes it (44-byte header)."""
    rate = int.from_bytes(wav[24:28], "little")
    return (len(wav) - 44) / 2 / rate


@dataclass
class Gateway:
    server: ServerThread
    http: httpx.Client

    @property
    def app(self) -> Any:
        return self.server.server.config.app

    @property
    def license(self) -> LicenseClient:
        return self.app.state.license  # type: ignore[no-any-return]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    def speak(self, text: str = "Hello there.", **headers: str) -> httpx.Response:
        return self.http.post("/v1/speak", json={"text": text, "voice_id": VOICE}, headers=headers)

    def listen(self, wav: bytes, **headers: str) -> httpx.Response:
        return self.http.post("/v1/listen", content=wav, headers={"Content-Type": "audio/wav", **headers})

    def slow_reader(self) -> httpx.Client:
        """A client whose small, fixed receive buffer makes a streamed response wait on its reading."""
        small = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)]
        return httpx.Client(
            base_url=self.server.url, timeout=60, transport=httpx.HTTPTransport(socket_options=small)
        )

    def ws(self, path: str, **headers: str) -> Any:
        return connect(f"{self.ws_url}{path}", additional_headers=headers, open_timeout=10)

    def ws_denied(self, path: str) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of a WebSocket handshake the gateway must refuse."""
        try:
            with self.ws(path):
                pass
        except InvalidStatus as exc:
            return exc.response.status_code, json.loads(exc.response.body or b"{}")
        raise AssertionError(f"the handshake to {path} was accepted")

    def listen_stream(self, pcm16k: bytes, **headers: str) -> list[dict[str, Any]]:
        """Stream 16 kHz PCM16 to WS /v1/listen/stream; every message until is_last."""
        messages: list[dict[str, Any]] = []
        with self.ws("/v1/listen/stream", **headers) as ws:
            for i in range(0, len(pcm16k), 16000):
                ws.send(pcm16k[i : i + 16000])
            ws.send(json.dumps({"type": "close_stream"}))
            while not (messages and messages[-1].get("is_last")):
                messages.append(json.loads(ws.recv(timeout=60)))
        return messages

    def speak_stream(self, text: str, **headers: str) -> tuple[bytes, dict[str, Any]]:
        """Speak one text over WS /v1/speak/stream: the PCM received and the final `done` message."""
        audio = bytearray()
        with self.ws(f"/v1/speak/stream?voice_id={VOICE}", **headers) as ws:
            ws.send(json.dumps({"type": "text", "text": text}))
            ws.send(json.dumps({"type": "close"}))
            while True:
                message = ws.recv(timeout=60)
                if isinstance(message, bytes):
                    audio += message
                    continue
                parsed = json.loads(message)
                assert parsed["type"] in ("ready", "done"), parsed
                if parsed["type"] == "done":
                    return bytes(audio), parsed


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/health?capability=all").status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def licensed_gateway(redis_url: str, asr_port: int, proxy_port: int) -> Iterator[Gateway]:
    # The session's Redis is shared: records an earlier test's gateway left owed are not this test's.
    redis.Redis.from_url(redis_url).delete(USAGE_OUTBOX_STREAM)
    settings = GatewaySettings(
        profile="cpu",
        license_mode="online",
        license_proxy_port=proxy_port,
        license_refresh_interval_s=0.2,
        redis_url=redis_url,
        asr_port=asr_port,
        tts_piper_enabled=True,
        health_probe_interval_s=0.2,
        retry_after_s=1,
    )
    with ServerThread(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        wait_until(lambda: _ready(http), 60, "the licensed gateway to be ready (Piper, ASR, license)")
        yield Gateway(server, http)
