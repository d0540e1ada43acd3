"""A corpus of bad inputs: every one gets a 4xx with the JSON error shape, or a clean WebSocket
close, and the gateway still answers correctly afterwards (real Piper voice, real ASR worker)."""

from __future__ import annotations

import io
import json
import socket
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.main import create_app
from tests.support import ServerThread, wait_until
from tests.support.asr import Speech, Worker, gateway_settings, to_wav
from tests.support.gateway_process import voice_ready

pytestmark = pytest.mark.slow

MAX_UPLOAD = 2_000_000
MAX_AUDIO_S = 20


@pytest.fixture(scope="module")
def strict_gateway(redis_url: str, asr_worker: Worker) -> Iterator[ServerThread]:
    settings = gateway_settings(
        redis_url, asr_worker.port, max_upload_bytes=MAX_UPLOAD, max_audio_seconds=MAX_AUDIO_S,
        body_read_timeout_s=2, max_text_chars=1000,
    )
    with ServerThread(create_app(settings)) as server:
        wait_until(lambda: voice_ready(server.url), 60, "the Piper voice")
        wait_until(lambda: httpx.get(f"{server.url}/health?capability=all").status_code == 200, 30, "gateway ready")
        yield server


def _wav_header_only(speech: Speech) -> bytes:
    return speech.wav()[:44]


def _lying_wav() -> bytes:
    """A RIFF header that claims an enormous data chunk, followed by a few samples."""
    good = to_wav(np.zeros(800, dtype=np.int16), 16000)
    return good[:40] + (0x7FFFFFF0).to_bytes(4, "little") + good[44:]


def _long_silence() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * (MAX_AUDIO_S + 5))
    return buf.getvalue()


def _http_cases(speech: Speech) -> list[tuple[str, dict[str, object]]]:
    rng = np.random.default_rng(7)
    junk = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    wav = speech.wav()
    listen = "/v1/listen"
    octet = {"content-type": "application/octet-stream"}
    return [
        (listen, {"content": b""}),
        (listen, {"content": junk, "headers": octet}),
        (listen, {"content": wav[: len(wav) // 3][:44] + junk[:500]}),  # header + noise
        (listen, {"content": _wav_header_only(speech)}),  # truncated: no samples
        (listen, {"content": _lying_wav()}),
        (listen, {"content": b"ID3\x03\x00\x00\x00" + junk}),  # an "mp3" that is not
        (listen, {"content": b"\0" * (MAX_UPLOAD + 1), "headers": octet}),  # over the upload limit
        (listen, {"content": _long_silence()}),  # over the duration limit
        (listen, {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        (listen, {"files": {"nothing": ("a.wav", wav)}}),
        (listen, {"content": wav, "params": {"language": "xx"}}),
        (listen, {"content": wav, "params": {"callback_url": "ftp://nowhere"}}),
        ("/v1/listen/" + "x" * 100, {"method": "GET"}),
        ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", junk)}, "data": {"model": "whisper-1"}}),
        ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", wav)}}),  # no model
        ("/v1/audio/transcriptions", {"content": junk, "headers": {"content-type": "multipart/form-data"}}),
        ("/v1/audio/speech", {"content": b"{garbage", "headers": {"content-type": "application/json"}}),
        ("/v1/audio/speech", {"content": junk}),
        ("/v1/audio/speech", {"json": ["not", "an", "object"]}),
        ("/v1/audio/speech", {"json": {"input": "", "voice": "en_us_joe"}}),
        ("/v1/audio/speech", {"json": {"input": "x " * 600, "voice": "en_us_joe"}}),  # over max_text_chars
        ("/v1/audio/speech", {"json": {"input": "Hello.", "voice": "en_us_joe", "response_format": "exe"}}),
        ("/v1/audio/speech", {"json": {"input": "Hello.", "voice": "en_us_joe", "speed": 99}}),
        ("/v1/text-to-speech", {"json": {"text": 5, "voice": {"a": 1}}}),
        ("/v1/text-to-speech", {"json": {"text": "\u200b\u200b", "voice": "en_us_joe"}}),
        ("/v1/speak", {"json": {"text": "Hello.", "voice_id": "nobody"}}),
        ("/v1/speak", {"json": {"text": "Hello.", "sample_rate": 3}}),
        ("/waves/v1/tts", {"json": {"text": "Hello.", "voice_id": "en_us_joe", "output_format": "ulaw"}}),
        ("/waves/v1/tts/live", {"json": {"text": "Hello."}}),  # no voice_id
        ("/waves/v1/stt/", {"content": junk, "headers": {"content-type": "application/octet-stream"}}),
        ("/waves/v1/stt/?diarize=true&num_speakers=0",
         {"content": wav, "headers": {"content-type": "application/octet-stream"}}),
        ("/v1/text-to-speech/en_us_joe/with-timestamps?output_format=mp3_fast", {"json": {"text": "Hi."}}),
        ("/v1/text-to-speech/nobody/with-timestamps", {"json": {"text": "Hi."}}),
    ]


def _healthy(url: str, speech: Speech) -> None:
    """The gateway still does real work correctly."""
    tts = httpx.post(f"{url}/v1/speak", json={"text": "Still here.", "voice_id": "en_us_joe"}, timeout=30)
    assert tts.status_code == 200 and tts.content[:4] == b"RIFF"
    asr = httpx.post(f"{url}/v1/listen", content=speech.wav(), timeout=60)
    assert asr.status_code == 200 and "fox" in asr.json()["text"].lower()


def test_bad_http_inputs_get_4xx_json_errors(strict_gateway: ServerThread, speech: Speech) -> None:
    statuses = []
    with httpx.Client(base_url=strict_gateway.url, timeout=30) as client:
        for path, spec in _http_cases(speech):
            spec = dict(spec)
            method = str(spec.pop("method", "POST"))
            response = client.request(method, path, **spec)  # type: ignore[arg-type]
            assert 400 <= response.status_code < 500, (path, spec.keys(), response.status_code, response.text[:300])
            error = response.json()["error"]
            assert error["code"] and error["message"], (path, error)
            statuses.append(response.status_code)
    assert {400, 404, 413, 415, 422} <= set(statuses)
    _healthy(strict_gateway.url, speech)


def test_slow_client_trickling_its_body_gets_408(strict_gateway: ServerThread, speech: Speech) -> None:
    body = speech.wav()
    with socket.create_connection(("127.0.0.1", strict_gateway.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        reply = b""
        started = time.monotonic()
        for offset in range(0, len(body), 100):  # 100 bytes every 0.2 s: minutes for the whole clip
            try:
                sock.sendall(body[offset : offset + 100])
            except OSError:
                break
            sock.settimeout(0.2)
            try:
                reply += sock.recv(65536)
            except TimeoutError:
                continue
            if reply or time.monotonic() - started > 15:
                break
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"request_timeout" in reply
    _healthy(strict_gateway.url, speech)


def _closed(ws_url: str, *frames: bytes | str) -> tuple[int, list[str]]:
    """Send the frames; return the close code and the text messages received before it."""
    texts: list[str] = []
    with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        for frame in frames:
            try:
                ws.send(frame)
            except ConnectionClosed:
                break
        try:
            while True:
                message = ws.recv(timeout=15)
                if isinstance(message, str):
                    texts.append(message)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, texts
    raise AssertionError("unreachable")


def test_junk_on_websockets_gets_a_clean_close(strict_gateway: ServerThread, speech: Speech) -> None:
    ws = strict_gateway.url.replace("http://", "ws://")
    junk = np.random.default_rng(3).integers(0, 256, 4001, dtype=np.uint8).tobytes()
    cases = [
        (f"{ws}/v1/listen/stream", [junk]),  # odd byte count: not PCM16
        (f"{ws}/v1/listen/stream", ["{garbage"]),
        (f"{ws}/v1/listen/stream", [json.dumps({"type": "explode"})]),
        (f"{ws}/v1/listen/stream?sample_rate=nope", []),
        (f"{ws}/v1/listen/stream?encoding=mulaw", []),
        (f"{ws}/v1/speak/stream", [junk]),
        (f"{ws}/v1/speak/stream", ["\x00\xff not json"]),
        (f"{ws}/v1/speak/stream", [json.dumps({"type": "text", "text": 42})]),
        (f"{ws}/v1/speak/stream", [json.dumps({"type": "text", "text": "y " * 600})]),  # over the char limit
        (f"{ws}/v1/speak/stream?voice_id=nobody", []),
        (f"{ws}/waves/v1/tts/live", [junk]),
        (f"{ws}/waves/v1/tts/live", [json.dumps({"text": "Hello."})]),  # no voice_id
        (f"{ws}/waves/v1/stt/live", [junk]),
        (f"{ws}/v1/audio/speech/stream-input?voice=nobody", []),
        (f"{ws}/v1/audio/speech/stream-input?voice=en_us_joe", [json.dumps({"text": 42})]),
    ]
    for url, frames in cases:
        code, texts = _closed(url, *frames)
        assert code in (1003, 1007, 1008, 1009), (url, frames[:1], code, texts)
        errors = [json.loads(t) for t in texts if '"error"' in t]
        assert errors, (url, texts)
        # the one WebSocket error shape: the HTTP error body, whichever side (gateway, worker) sent it
        assert set(errors[-1]["error"]) >= {"message", "type", "param", "code"}, (url, errors)
    _healthy(strict_gateway.url, speech)
