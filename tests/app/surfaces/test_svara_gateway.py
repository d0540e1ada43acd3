"""Svara through the real gateway. Against real vLLM (CPU build) with the Svara-shaped test model:
POST /v1/text-to-speech streams exactly the SNAC decode of each speaker's known codes, and a client
that leaves aborts the vLLM request. Against the vLLM stand-in, only for faults real vLLM cannot be
made to show on demand (its /health failing while it stays up, an error mid-stream, a stall): they
reach the client as clear outcomes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, wait_until
from tests.support.real_vllm import RealVllm
from tests.support.svara import (
    shared_engine,
    snr_db,
    speech_like_audio,
    svara_gateway_settings,
)
from tests.support.svara_model import LOOP_VOICE, SPEAKERS, TEXTS, known_frames
from tests.support.vllm_standin import Script, VllmStandin
from tts_engine.svara.prompt import PromptTemplate
from tts_engine.svara.tokens import frames_to_token_text

SEED = 5


@dataclass
class SvaraGateway:
    url: str
    standin: VllmStandin


def _settings(redis_url: str, vllm_url: str) -> GatewaySettings:
    return svara_gateway_settings(
        redis_url, vllm_url, svara_stall_timeout_s=2.0, svara_health_interval_s=0.5, retry_after_s=2
    )


@pytest.fixture(scope="module")
def real_gateway(redis_url: str, real_vllm: RealVllm) -> Iterator[str]:
    settings = _settings(redis_url, real_vllm.url).model_copy(update={"svara_stall_timeout_s": 60.0})
    with ServerThread(create_app(settings)) as server:
        wait_until(lambda: _svara_state(server.url) == "ready", 60, "the Svara backend to load and see vLLM")
        yield server.url


@pytest.fixture(scope="module")
def gateway(redis_url: str) -> Iterator[SvaraGateway]:
    standin = VllmStandin().start()
    with ServerThread(create_app(_settings(redis_url, standin.url))) as server:
        wait_until(lambda: _svara_state(server.url) == "ready", 60, "the Svara backend to load and see vLLM")
        yield SvaraGateway(url=server.url, standin=standin)
    standin.stop()


def _svara_state(url: str) -> str | None:
    try:
        return str(httpx.get(f"{url}/health", timeout=2).json()["components"]["svara"]["state"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return shared_engine().encode(speech_like_audio(0.9))


def _body(**extra: object) -> dict[str, object]:
    return {"text": "नमस्ते दुनिया", "voice": "hi_male", "response_format": "pcm", "seed": SEED, **extra}


@pytest.mark.parametrize("voice", list(SPEAKERS))
def test_streamed_pcm_is_the_snac_decode_of_the_speakers_known_codes(real_gateway: str, voice: str) -> None:
    body = _body(voice=voice, text=TEXTS[0], stream=True)
    with httpx.stream("POST", f"{real_gateway}/v1/text-to-speech", json=body, timeout=120) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["x-sample-rate"] == "24000"
        pcm = b"".join(r.iter_bytes())
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32767  # the encoder scales by 32767
    # The speaker string reached the model: each voice gets its own known sequence.
    whole = shared_engine().decode_whole(known_frames(voice), seed=SEED)
    assert audio.shape == whole.shape  # to the last frame
    assert snr_db(audio, whole) >= 60


def test_client_leaving_aborts_the_vllm_request(real_gateway: str, real_vllm: RealVllm) -> None:
    # The looping voice runs to max_tokens (thousands of tokens) unless the request is aborted.
    generated = real_vllm.metric("vllm:generation_tokens_total")
    body = _body(voice=LOOP_VOICE, text=TEXTS[0], stream=True, repetition_penalty=1.0)
    with httpx.stream("POST", f"{real_gateway}/v1/text-to-speech", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert next(r.iter_bytes())  # first audio, then hang up
    wait_until(lambda: real_vllm.metric("vllm:num_requests_running") == 0, 60, "vLLM to drop the request")
    # Not aborted, it would run to max_tokens (about 4000); vLLM notices the hang-up late on a busy CPU.
    assert real_vllm.metric("vllm:generation_tokens_total") - generated < 3000


@pytest.mark.parametrize(
    ("written", "lexicon", "read"),
    [
        ("कुल राशि ₹1,25,000 है।", None, "कुल राशि एक लाख पच्चीस हज़ार रुपये है।"),
        ("बैठक 15/08/2024 को 10:30 बजे है।", None, "बैठक पंद्रह अगस्त दो हज़ार चौबीस को साढ़े दस बजे है।"),
        ("SBI में 18% ब्याज", {"SBI": "एस बी आई"}, "एस बी आई में अट्ठारह प्रतिशत ब्याज"),
    ],
    ids=["money", "date-and-time", "lexicon-and-percent"],
)
def test_hindi_reaches_the_model_as_it_is_read(
    real_gateway: str, real_vllm: RealVllm, written: str, lexicon: dict[str, str] | None, read: str
) -> None:
    """The prompt real vLLM receives is built from the reading, not from the digits: its prompt
    token count is that of the template around the reading (one piece, one request)."""
    shown = httpx.post(f"{real_gateway}/v1/text/normalize", json={"text": written, "voice": "hi_male",
                                                                 "lexicon": lexicon}, timeout=30)
    assert shown.json() == {"text": read, "language": "hi"}
    template = PromptTemplate.load(GatewaySettings().svara_prompt_template)
    read_tokens = len(real_vllm.tokenize(template.build(SPEAKERS["hi_male"], read)))
    assert read_tokens != len(real_vllm.tokenize(template.build(SPEAKERS["hi_male"], written)))
    before = real_vllm.metric("vllm:prompt_tokens_total")
    body = _body(text=written, stream=False, response_format="wav", max_tokens=70, lexicon=lexicon)
    response = httpx.post(f"{real_gateway}/v1/text-to-speech", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert real_vllm.metric("vllm:prompt_tokens_total") - before == read_tokens


def test_upstream_refusing_gives_503_with_retry_after(gateway: SvaraGateway) -> None:
    # Stand-in: real vLLM's /health cannot be made to fail while it keeps running (its kill -9 under
    # supervisord is in tests/stack/test_svara_stack.py).
    gateway.standin.healthy = False  # vLLM restarting: its /health fails
    try:
        wait_until(lambda: _svara_state(gateway.url) == "down", 10, "the gateway to see vLLM down")
        svara = httpx.get(f"{gateway.url}/health", timeout=2).json()["components"]["svara"]
        assert svara["error"] == "vLLM's /health answered HTTP 503"  # the probe's reason, as it saw it
        response = httpx.post(f"{gateway.url}/v1/text-to-speech", json=_body(), timeout=10)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == "upstream_unavailable"
    finally:
        gateway.standin.healthy = True
        wait_until(lambda: _svara_state(gateway.url) == "ready", 10, "svara back")


def test_mid_stream_failure_is_an_sse_error_event(gateway: SvaraGateway, frames: np.ndarray) -> None:
    # Stand-in: real vLLM cannot be made to fail in the middle of a stream on demand.
    gateway.standin.script = Script(
        text=frames_to_token_text(frames), split_seed=2, max_piece=30, error_event_after=40
    )
    body = {"model": "svara", "input": "नमस्ते दुनिया", "voice": "hi_male", "response_format": "pcm",
            "stream_format": "sse"}
    with httpx.stream("POST", f"{gateway.url}/v1/audio/speech", json=body, timeout=30) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[0]["type"] == "speech.audio.delta" and base64.b64decode(events[0]["audio"])
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["code"] == "upstream_stream_failed"
    assert all(e["type"] != "speech.audio.done" for e in events)


def test_stalled_upstream_ends_the_request_within_bounds(gateway: SvaraGateway, frames: np.ndarray) -> None:
    # Stand-in: real vLLM cannot be made to stall on demand.
    gateway.standin.script = Script(text=frames_to_token_text(frames), stall_after_events=0)
    response = httpx.post(f"{gateway.url}/v1/text-to-speech", json=_body(), timeout=20)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_openai_voice_names_reach_svara_as_its_own_speakers(gateway: SvaraGateway, frames: np.ndarray) -> None:
    """With Svara speaking, OpenAI's names resolve to its English voices (the alias data's first
    choice); an alias never reaches the prompt, and OpenAI's pcm is Svara's native 24 kHz."""
    aliases = httpx.get(f"{gateway.url}/v1/voices", timeout=10).json()["aliases"]
    assert aliases["alloy"] == "en_female" and aliases["onyx"] == "en_male"
    gateway.standin.script = Script(text=frames_to_token_text(frames), split_seed=3, max_piece=20)
    body = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "pcm"}
    response = httpx.post(f"{gateway.url}/v1/audio/speech", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["x-voice"] == "en_female" and response.headers["x-sample-rate"] == "24000"
    assert len(response.content) == len(frames) * 2048 * 2
    prompt = str(gateway.standin.requests[-1].payload["prompt"])
    assert "English (Female)" in prompt and "alloy" not in prompt
