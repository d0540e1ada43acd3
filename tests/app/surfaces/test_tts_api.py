"""The TTS endpoints as clients use them: the official openai package, SSE, the Svara- and
Smallest-style routes, the voice list, bad input, client disconnects and the WebSocket stream."""

from __future__ import annotations

import base64
import json
import socket
import struct

import httpx
import openai
import pytest
from websockets.sync.client import connect

from tests.support import wait_until
from tests.support.tts_gateway import SPY_VOICE, Gateway, audio_seconds

TEXT = "Hello from the appliance. This is a short test."


@pytest.fixture(scope="module")
def client(tts_gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tts_gateway.url}/v1", api_key="unused", max_retries=0)


def test_openai_sdk_create(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(model="tts-1", voice="en_us_joe", input=TEXT)  # type: ignore[arg-type]
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert audio_seconds(response.content) > 1.0


def test_openai_sdk_streaming_response(client: openai.OpenAI) -> None:
    parts: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice="en_us_joe",
        input=" ".join([TEXT] * 4),
        response_format="wav",  # type: ignore[arg-type]
    ) as response:
        assert response.headers["x-sample-rate"] == "22050"
        for part in response.iter_bytes():
            parts.append(part)
    assert len(parts) > 1  # arrived in pieces, as produced
    assert audio_seconds(b"".join(parts)) > 4.0


def test_openai_sdk_sees_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-1", voice="no_such_voice", input=TEXT)  # type: ignore[arg-type]
    assert "en_us_joe" in str(caught.value)


def test_sse_stream(tts_gateway: Gateway) -> None:
    events = []
    with httpx.stream(
        "POST",
        f"{tts_gateway.url}/v1/audio/speech",
        timeout=120,
        json={"input": TEXT, "voice": "en_us_joe", "response_format": "pcm", "stream_format": "sse"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done"
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert len(pcm) / 2 / 22050 > 1.0


def test_svara_route_streamed_and_whole(tts_gateway: Gateway) -> None:
    body = {"text": TEXT, "voice": "en_us_joe", "response_format": "wav", "temperature": 0.7, "top_k": 40}
    whole = httpx.post(f"{tts_gateway.url}/v1/text-to-speech", json={**body, "stream": False}, timeout=120)
    assert whole.status_code == 200 and "content-length" in whole.headers
    riff_size, data_size = (
        struct.unpack("<I", whole.content[4:8])[0],
        struct.unpack("<I", whole.content[40:44])[0],
    )
    assert (riff_size, data_size) == (len(whole.content) - 8, len(whole.content) - 44)  # real sizes
    streamed = httpx.post(f"{tts_gateway.url}/v1/text-to-speech", json={**body, "stream": True}, timeout=120)
    assert streamed.headers.get("transfer-encoding") == "chunked"
    assert abs(audio_seconds(streamed.content) - audio_seconds(whole.content)) < 0.5


def test_svara_route_defaults_match_the_authors_server(tts_gateway: Gateway) -> None:
    """No stream or format given: streamed raw 16-bit mono PCM at 24 kHz, described in headers."""
    body = {"text": TEXT, "voice": "en_us_joe"}
    streamed = httpx.post(f"{tts_gateway.url}/v1/text-to-speech", json=body, timeout=120)
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers.get("transfer-encoding") == "chunked"
    assert streamed.headers["content-type"] == "audio/pcm" and streamed.content[:4] != b"RIFF"
    assert (streamed.headers["x-sample-rate"], streamed.headers["x-bit-depth"], streamed.headers["x-channels"]) == (
        "24000",
        "16",
        "1",
    )
    whole = httpx.post(
        f"{tts_gateway.url}/v1/text-to-speech", json={"text": TEXT, "voice": "en_us_joe", "stream": False}, timeout=120
    )
    assert whole.content[:4] == b"RIFF" and "content-length" in whole.headers  # stream: false -> a WAV file
    # Piper's duration predictor samples noise, so two syntheses of one text differ by a few frames.
    assert abs(len(streamed.content) / 2 / 24000 - audio_seconds(whole.content)) < 0.5


def test_smallest_route_header_switch(tts_gateway: Gateway) -> None:
    body = {"text": TEXT, "voice_id": "en_us_joe", "sample_rate": 16000}
    wav = httpx.post(f"{tts_gateway.url}/v1/speak", json=body, timeout=120)
    pcm = httpx.post(f"{tts_gateway.url}/v1/speak", json={**body, "add_wav_header": False}, timeout=120)
    assert wav.content[:4] == b"RIFF" and wav.headers["content-type"] == "audio/wav"
    assert pcm.content[:4] != b"RIFF" and pcm.headers["content-type"] == "audio/pcm"
    assert wav.headers["x-sample-rate"] == pcm.headers["x-sample-rate"] == "16000"


def test_voice_catalogue(tts_gateway: Gateway) -> None:
    body = httpx.get(f"{tts_gateway.url}/v1/voices", timeout=10).json()
    joe = next(v for v in body["voices"] if v["id"] == "en_us_joe")
    assert joe == {
        "id": "en_us_joe",
        "name": "Joe (US English)",
        "language": "en-US",
        "gender": "male",
        "backend": "piper",
        "sample_rate": 22050,
        "available": True,
    }
    assert body["default_voice"] == "en_us_joe"


def test_health_shows_tts(tts_gateway: Gateway) -> None:
    def tts_component() -> dict[str, str]:
        return httpx.get(f"{tts_gateway.url}/health", timeout=10).json()["components"]["tts"]  # type: ignore[no-any-return]

    # /health shows the last background probe: the voice may have loaded a probe interval earlier.
    wait_until(lambda: tts_component()["state"] == "ready", 15, "/health to show the Piper voice ready")
    assert tts_component()["model"] == "en_US-joe-medium"


BAD = [
    ({"input": "", "voice": "en_us_joe"}, 422, "input"),
    ({"input": "  \n\t ", "voice": "en_us_joe"}, 422, "input"),
    ({"input": "\u200b", "voice": "en_us_joe"}, 422, "input"),
    ({"input": "hi", "voice": "nobody"}, 404, "voice"),
    ({"input": "hi", "voice": "en_us_joe", "response_format": "ogg-vorbis"}, 422, "response_format"),
    ({"input": "hi", "voice": "en_us_joe", "speed": 0.2}, 422, "speed"),
    ({"input": "hi", "voice": "en_us_joe", "speed": 4}, 422, "speed"),
    ({"input": "hi", "voice": "en_us_joe", "speed": "fast"}, 422, "speed"),
    ({"input": 42, "voice": "en_us_joe"}, 422, "input"),
    ({"voice": "en_us_joe"}, 422, "input"),
    ({"input": "x" * 5001, "voice": "en_us_joe"}, 413, "input"),
]


@pytest.mark.parametrize(("body", "status", "param"), BAD)
def test_bad_input_openai(tts_gateway: Gateway, body: dict[str, object], status: int, param: str) -> None:
    response = httpx.post(f"{tts_gateway.url}/v1/audio/speech", json=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]


@pytest.mark.parametrize(
    ("route", "body", "status", "param"),
    [
        ("/v1/speak", {"text": "hi", "sample_rate": 4000}, 422, "sample_rate"),
        ("/v1/speak", {"text": "hi", "sample_rate": 96000}, 422, "sample_rate"),
        ("/v1/speak", {"text": "hi", "output_format": "midi"}, 422, "output_format"),
        ("/v1/text-to-speech", {"text": "hi", "voice": "xx_nobody"}, 404, "voice"),
        ("/v1/text-to-speech", {"text": "hi", "top_p": 3}, 422, "top_p"),
        # one sampling rule (SAMPLING_BOUNDS) for every voice, not only those that sample
        ("/v1/text-to-speech", {"text": "hi", "temperature": 1.8}, 422, "temperature"),
        ("/v1/text-to-speech", {"text": "hi", "max_tokens": 5}, 422, "max_tokens"),
    ],
)
def test_bad_input_other_routes(
    tts_gateway: Gateway, route: str, body: dict[str, object], status: int, param: str
) -> None:
    response = httpx.post(f"{tts_gateway.url}{route}", json=body, timeout=30)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_disabled_svara_voice_is_listed_and_refused_with_the_reason(tts_gateway: Gateway) -> None:
    voices = {v["id"]: v for v in httpx.get(f"{tts_gateway.url}/v1/voices").json()["voices"]}
    assert len([v for v in voices.values() if v["backend"] == "svara"]) == 38
    assert voices["hi_male"]["available"] is False and voices["hi_male"]["language"] == "hi"
    response = httpx.post(f"{tts_gateway.url}/v1/text-to-speech", json={"text": "hi", "voice": "hi_male"})
    assert response.status_code == 503 and "Retry-After" in response.headers
    assert "disabled in this deployment" in response.json()["error"]["message"]


def test_malformed_json_then_service_still_works(tts_gateway: Gateway) -> None:
    response = httpx.post(
        f"{tts_gateway.url}/v1/audio/speech",
        content=b'{"input": "hi", ',
        timeout=30,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_parameter"
    again = httpx.post(f"{tts_gateway.url}/v1/speak", json={"text": "Still here."}, timeout=60)
    assert again.status_code == 200


def test_client_disconnect_stops_synthesis(tts_gateway: Gateway) -> None:
    spy = tts_gateway.spy
    before_started, before_early = spy.started, spy.closed_early
    text = " ".join(f"This is sentence number {i} of a long text that nobody will hear." for i in range(60))
    body = json.dumps({"input": text, "voice": SPY_VOICE, "response_format": "pcm"}).encode()
    port = int(tts_gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")  # audio is flowing
    # The generator of the piece in progress is closed early and no further pieces start.
    wait_until(lambda: spy.closed_early > before_early, 30, "the backend generator to be closed")
    settled = spy.started
    # The synthesis has ended once its engine slot is free: no piece can start after that.
    speech = tts_gateway.app.state.speech  # type: ignore[attr-defined]
    wait_until(lambda: not speech.limiter.busy, 30, "the synthesis to end")
    assert spy.started == settled
    assert spy.started - before_started < 60  # far from every piece of the text
    assert tts_gateway.piper.active == 0


# -- WebSocket ---------------------------------------------------------------------------------


def _ws_url(gw: Gateway, query: str = "") -> str:
    return gw.url.replace("http://", "ws://") + "/v1/speak/stream" + query


def test_ws_speaks_sentences_as_they_complete(tts_gateway: Gateway) -> None:
    with connect(_ws_url(tts_gateway, "?voice_id=en_us_joe&output_format=pcm&sample_rate=16000")) as ws:
        ready = json.loads(ws.recv())
        assert ready == {
            "type": "ready",
            "voice_id": "en_us_joe",
            "output_format": "pcm",
            "sample_rate": 16000,
        }
        ws.send(json.dumps({"type": "text", "text": "The first sentence is"}))
        ws.send(json.dumps({"type": "text", "text": " complete now. The second"}))
        first = ws.recv(timeout=30)  # audio of sentence one, before the second one is finished
        assert isinstance(first, bytes) and len(first) > 0
        ws.send(json.dumps({"type": "text", "text": " is not, until closed."}))
        ws.send(json.dumps({"type": "close"}))
        audio, messages = bytearray(first), []
        while True:
            message = ws.recv(timeout=30)
            if isinstance(message, bytes):
                audio += message
            else:
                messages.append(json.loads(message))
                if messages[-1]["type"] == "done":
                    break
        done = messages[-1]
        assert done["characters"] == len(
            "The first sentence is complete now. The second is not, until closed."
        )
        assert done["audio_seconds"] == pytest.approx(len(audio) / 2 / 16000, abs=0.01)
        assert done["audio_seconds"] > 2.0


def test_ws_flush_and_encoded_format(tts_gateway: Gateway) -> None:
    with connect(_ws_url(tts_gateway, "?output_format=mp3")) as ws:
        assert json.loads(ws.recv())["output_format"] == "mp3"
        ws.send(json.dumps({"type": "text", "text": "No full stop here"}))
        ws.send(json.dumps({"type": "flush"}))
        audio = bytearray()
        while isinstance(message := ws.recv(timeout=30), bytes):
            audio += message
        assert json.loads(message)["type"] == "flushed"
        ws.send(json.dumps({"type": "close"}))
        while isinstance(message := ws.recv(timeout=30), bytes):
            audio += message
        assert json.loads(message)["type"] == "done"
    assert audio_seconds(bytes(audio)) > 0.5


@pytest.mark.parametrize(
    ("query", "send", "code"),
    [
        ("?voice_id=nobody", None, "not_found"),
        ("?speed=9", None, "invalid_parameter"),
        ("?sample_rate=abc", None, "invalid_parameter"),
        ("?temperature=1.8", None, "invalid_parameter"),  # the HTTP bodies' SAMPLING_BOUNDS
        ("?top_k=many", None, "invalid_parameter"),
        ("", "not json at all", "invalid_parameter"),
        ("", b"\x00\x01binary", "invalid_parameter"),
        ("", json.dumps([1, 2]), "invalid_parameter"),
        ("", json.dumps({"type": "shout"}), "invalid_parameter"),
        ("", json.dumps({"type": "text", "text": 5}), "invalid_parameter"),
        ("", json.dumps({"type": "text", "text": "x" * 5001}), "payload_too_large"),
    ],
)
def test_ws_bad_input_gets_error_and_close(
    tts_gateway: Gateway, query: str, send: str | bytes | None, code: str
) -> None:
    with connect(_ws_url(tts_gateway, query)) as ws:
        first = json.loads(ws.recv(timeout=10))
        if send is not None:
            assert first["type"] == "ready"
            ws.send(send)
            first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "error" and first["error"]["code"] == code
        assert set(first["error"]) >= {"message", "type", "param", "code"}  # the HTTP error shape
        with pytest.raises(Exception):  # noqa: B017 - the server closes: any further recv fails
            ws.recv(timeout=10)
        assert ws.close_code == (1009 if code == "payload_too_large" else 1008)


def test_ws_idle_client_is_closed(tts_gateway: Gateway) -> None:
    with connect(_ws_url(tts_gateway)) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        error = json.loads(ws.recv(timeout=10))  # the fixture sets a 2 s idle timeout
        assert error["error"]["param"] == "idle"
        with pytest.raises(Exception):  # noqa: B017
            ws.recv(timeout=10)
        assert ws.close_code == 1008


def _metric(gw: Gateway, name: str) -> float:
    text = httpx.get(f"{gw.url}/metrics", timeout=10).text
    line = next((row for row in text.splitlines() if row.startswith(name + " ")), None)
    return float(line.split()[-1]) if line else 0.0


def test_ws_sessions_record_tts_metrics(tts_gateway: Gateway) -> None:
    # WebSocket sessions go through the same encode loop as HTTP: each sentence is counted.
    first_audio = 'tts_time_to_first_audio_seconds_count{backend="piper"}'
    rtf = 'tts_real_time_factor_count{backend="piper"}'
    before = _metric(tts_gateway, first_audio), _metric(tts_gateway, rtf)
    with connect(_ws_url(tts_gateway, "?voice_id=en_us_joe")) as ws:
        assert json.loads(ws.recv())["type"] == "ready"
        ws.send(json.dumps({"type": "text", "text": "One sentence here. And a second one."}))
        ws.send(json.dumps({"type": "close"}))
        while isinstance(message := ws.recv(timeout=30), bytes):
            pass
        assert json.loads(message)["type"] == "done"
    after = _metric(tts_gateway, first_audio), _metric(tts_gateway, rtf)
    assert after[0] - before[0] == 2 and after[1] - before[1] == 2
