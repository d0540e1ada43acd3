"""Zero-shot voice cloning through the gateway against real vLLM (CPU build) and the Svara-shaped test
model: the prompt vLLM receives holds the reference transcript and exactly the SNAC codes of the
reference (checked through vLLM's /tokenize and the encoder run directly), the same reference is
encoded once, bad references get clear 4xx answers, and neither the reference nor its transcript
reaches a log."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import openai
import pytest

from app.main import create_app
from common.pcm import pcm16_to_float
from tests.support import ServerThread, wait_until
from tests.support.asr import to_wav
from tests.support.real_vllm import RealVllm
from tests.support.svara import shared_engine, speech_like_audio, svara_gateway_settings
from tests.support.svara_model import BOS, frame_token_ids
from tts_engine.svara.backend import SvaraBackend

ROUTE = "/v1/text-to-speech"
VOICE = "hi_male"
TRANSCRIPT = "zebra quartz umbrella lantern"  # words no other test or log line uses
START_OF_SPEECH, END_OF_SPEECH = 128257, 128258
MAX_MODEL_LEN = 1024  # the gateway's bound, lower than vLLM's own, so a long reference can overflow it


@dataclass
class CloningGateway:
    url: str
    backend: SvaraBackend
    prompts: list[str]  # what the backend sent to vLLM, in order
    records: list[logging.LogRecord]


class _Keep(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@pytest.fixture(scope="module")
def gateway(redis_url: str, real_vllm: RealVllm) -> Iterator[CloningGateway]:
    settings = svara_gateway_settings(
        redis_url,
        real_vllm.url,
        vllm_max_model_len=MAX_MODEL_LEN,
        svara_stall_timeout_s=60.0,
        svara_health_interval_s=0.5,
    )
    records: list[logging.LogRecord] = []
    handler = _Keep(records)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    app = create_app(settings)
    try:
        with ServerThread(app) as server:
            wait_until(lambda: _svara_backend(app) is not None, 60, "the Svara backend to load")
            backend = _svara_backend(app)
            assert backend is not None
            wait_until(backend.is_available, 60, "the Svara backend to see vLLM")
            prompts: list[str] = []
            stream = backend.client.stream

            def recording(prompt: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
                prompts.append(prompt)  # a spy: the real request still goes to vLLM
                return stream(prompt, *args, **kwargs)  # type: ignore[arg-type]

            backend.client.stream = recording  # type: ignore[method-assign]
            yield CloningGateway(url=server.url, backend=backend, prompts=prompts, records=records)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _svara_backend(app: object) -> SvaraBackend | None:
    backends = app.state.tts.catalog.backends  # type: ignore[attr-defined]
    return next((b for b in backends if isinstance(b, SvaraBackend)), None)


def _reference(seconds: float) -> tuple[bytes, np.ndarray]:
    """A 24 kHz 16-bit WAV (decoded by the gateway without resampling) and the samples it holds."""
    pcm = np.round(speech_like_audio(seconds) * 32767).astype(np.int16)
    return to_wav(pcm, 24000), pcm16_to_float(pcm.astype("<i2").tobytes())


def _body(audio: bytes | None, transcript: str | None = TRANSCRIPT, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"text": "Hello there.", "voice": VOICE, "max_tokens": 70, "seed": 3, **extra}
    if audio is not None:
        body["reference_audio"] = base64.b64encode(audio).decode()
    if transcript is not None:
        body["reference_transcript"] = transcript
    return body


def _cache(url: str, result: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f'svara_reference_cache_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_prompt_holds_the_transcript_and_exactly_the_reference_codes(
    gateway: CloningGateway, real_vllm: RealVllm
) -> None:
    wav, samples = _reference(2.0)
    before = len(gateway.prompts)
    response = httpx.post(f"{gateway.url}{ROUTE}", json=_body(wav), timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["x-sample-rate"] == "24000" and len(response.content) > 0
    (prompt,) = gateway.prompts[before:]
    ids = real_vllm.tokenize(prompt)  # as vLLM reads it (add_special_tokens=false, as sent)
    assert ids.count(BOS) == 1 and ids[0] == BOS
    transcript = real_vllm.tokenize(TRANSCRIPT)
    start = next(i for i in range(len(ids)) if ids[i : i + len(transcript)] == transcript)
    speech = ids.index(START_OF_SPEECH, start)
    codes = ids[speech + 1 : ids.index(END_OF_SPEECH, speech)]
    assert codes == frame_token_ids(shared_engine().encode(samples))  # the encoder, run directly
    target = real_vllm.tokenize("Hello there.")
    tail = ids[ids.index(END_OF_SPEECH, speech) :]
    assert any(tail[i : i + len(target)] == target for i in range(len(tail)))  # the text after it
    assert ids[-2:] == [128261, START_OF_SPEECH]  # the model speaks next


def test_same_reference_is_encoded_once(gateway: CloningGateway) -> None:
    wav, _ = _reference(1.5)
    misses, hits = _cache(gateway.url, "miss"), _cache(gateway.url, "hit")
    for _ in range(2):
        response = httpx.post(f"{gateway.url}{ROUTE}", json=_body(wav, stream=False), timeout=120)
        assert response.status_code == 200, response.text
        assert response.content[:4] == b"RIFF"
    assert _cache(gateway.url, "miss") - misses == 1
    assert _cache(gateway.url, "hit") - hits >= 1


def test_multipart_and_openai_extra_body_clone_too(gateway: CloningGateway) -> None:
    wav, _ = _reference(1.5)
    before = len(gateway.prompts)
    form = {"text": "Hello there.", "voice": VOICE, "reference_transcript": TRANSCRIPT, "max_tokens": "70"}
    response = httpx.post(
        f"{gateway.url}{ROUTE}", data=form, files={"reference_audio": ("me.wav", wav)}, timeout=120
    )
    assert response.status_code == 200, response.text
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    speech = client.audio.speech.create(
        model="svara",
        voice=VOICE,
        input="Hello there.",
        response_format="wav",
        extra_body={
            "reference_audio": base64.b64encode(wav).decode(),
            "reference_transcript": TRANSCRIPT,
            "max_tokens": 70,
        },
    )
    assert speech.content[:4] == b"RIFF"
    assert all(TRANSCRIPT in prompt for prompt in gateway.prompts[before:])
    assert len(gateway.prompts) - before == 2


@pytest.mark.parametrize(
    ("audio", "transcript", "status", "param", "words"),
    [
        (b"", TRANSCRIPT, 400, "reference_audio", "empty"),
        (b"RIFF but not really audio" * 40, TRANSCRIPT, 415, "reference_audio", "not audio"),
        (_reference(0.5)[0], TRANSCRIPT, 422, "reference_audio", "1-30 s"),
        (_reference(30.5)[0], TRANSCRIPT, 413, "reference_audio", "1-30 s"),
        (_reference(2.0)[0], None, 422, "reference_transcript", "required"),
        (_reference(14.0)[0], TRANSCRIPT, 422, None, "VLLM_MAX_MODEL_LEN"),  # reference + text overflow
    ],
    ids=["empty", "not-audio", "too-short", "too-long", "no-transcript", "over-context"],
)
def test_bad_references_get_clear_4xx(
    gateway: CloningGateway, audio: bytes, transcript: str | None, status: int, param: str | None, words: str
) -> None:
    before = len(gateway.prompts)
    response = httpx.post(f"{gateway.url}{ROUTE}", json=_body(audio, transcript), timeout=120)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"] and (param is None or error["param"] == param)
    assert len(gateway.prompts) == before  # refused before anything reached vLLM


def test_reference_and_transcript_reach_no_log(gateway: CloningGateway, real_vllm: RealVllm) -> None:
    wav, _ = _reference(1.2)
    encoded = base64.b64encode(wav).decode()
    response = httpx.post(f"{gateway.url}{ROUTE}", json=_body(wav), timeout=120)
    assert response.status_code == 200, response.text
    assert gateway.records, "the gateway logged nothing at all: the check below would prove nothing"
    for record in gateway.records:
        text = f"{record.getMessage()} {getattr(record, 'fields', '')}"
        assert TRANSCRIPT.split()[0] not in text and encoded[100:140] not in text, record
    assert TRANSCRIPT.split()[0] not in real_vllm.log()
