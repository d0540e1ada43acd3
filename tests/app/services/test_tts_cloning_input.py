"""Cloning references at the gateway, before any backend: every bad reference gets a clear 4xx that
names the field and the limit, in JSON (base64) and multipart, and a voice that cannot clone says so.
(The cloning itself, through real vLLM, is in tests/app/surfaces/test_svara_cloning.py.)"""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from tests.support.asr import to_wav
from tests.support.tts_gateway import Gateway

ROUTE = "/v1/text-to-speech"


def _tone(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return to_wav((8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16), rate)


def _json(audio: bytes | str | None, transcript: str | None = "some words", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"text": "Hello there.", "voice": "en_us_joe", **extra}
    if audio is not None:
        body["reference_audio"] = audio if isinstance(audio, str) else base64.b64encode(audio).decode()
    if transcript is not None:
        body["reference_transcript"] = transcript
    return body


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (_json(b""), 400, "reference_audio", "empty"),
        (_json(b"this is not audio at all" * 20), 415, "reference_audio", "not audio"),
        (_json("%%% not base64 %%%"), 422, "reference_audio", "base64"),
        (_json(_tone(0.4)), 422, "reference_audio", "1-30 s"),
        (_json(_tone(31)), 413, "reference_audio", "1-30 s"),
        (_json(_tone(2), transcript=None), 422, "reference_transcript", "required"),
        (_json(_tone(2), transcript="  "), 422, "reference_transcript", "required"),
        (_json(None), 422, "reference_audio", "without reference_audio"),
        (_json(_tone(2)), 422, "reference_audio", "cannot clone"),  # a Piper voice
    ],
)
def test_bad_references_get_clear_errors(
    tts_gateway: Gateway, body: dict[str, object], status: int, param: str, words: str
) -> None:
    response = httpx.post(f"{tts_gateway.url}{ROUTE}", json=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"]
    assert "some words" not in response.text  # the transcript is not echoed back


def test_multipart_reference_is_read_like_json(tts_gateway: Gateway) -> None:
    fields = {"text": "Hello there.", "voice": "en_us_joe", "reference_transcript": "some words"}
    short = httpx.post(
        f"{tts_gateway.url}{ROUTE}", data=fields, files={"reference_audio": ("r.wav", _tone(0.4))}, timeout=30
    )
    assert short.status_code == 422 and "1-30 s" in short.json()["error"]["message"]
    piper = httpx.post(
        f"{tts_gateway.url}{ROUTE}", data=fields, files={"reference_audio": ("r.wav", _tone(2))}, timeout=30
    )
    assert piper.status_code == 422 and "cannot clone" in piper.json()["error"]["message"]
    plain = httpx.post(
        f"{tts_gateway.url}{ROUTE}",
        data={"text": "Hello there.", "voice": "en_us_joe", "stream": "false", "response_format": "wav"},
        files={"other": ("x.txt", b"x")},
        timeout=30,
    )
    assert plain.status_code == 422 and plain.json()["error"]["param"] == "other"
    no_text = httpx.post(f"{tts_gateway.url}{ROUTE}", data={"voice": "en_us_joe"}, files={"x": ("", b"")}, timeout=30)
    assert no_text.status_code == 422


def test_openai_route_takes_the_reference_as_an_extra_field(tts_gateway: Gateway) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{tts_gateway.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError, match="cannot clone"):
        client.audio.speech.create(
            model="tts-1",
            voice="en_us_joe",
            input="Hello there.",
            extra_body={"reference_audio": base64.b64encode(_tone(2)).decode(), "reference_transcript": "words"},
        )
