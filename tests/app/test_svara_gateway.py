"""Svara through the real gateway: POST /v1/text-to-speech against the vLLM stand-in streams exactly
the audio a direct whole-utterance SNAC decode of the same codes gives, and upstream faults reach the
client as clear outcomes."""

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
from tests.support import ServerThread, free_port, wait_until
from tests.support.svara import encode_frames, seeded_snac_dir, shared_engine, snr_db, speech_like_audio
from tests.support.vllm_standin import Script, VllmStandin
from tts_engine.svara.tokens import frames_to_token_text

SEED = 5


@dataclass
class SvaraGateway:
    url: str
    standin: VllmStandin


@pytest.fixture(scope="module")
def gateway(redis_url: str) -> Iterator[SvaraGateway]:
    standin = VllmStandin().start()
    settings = GatewaySettings(
        redis_url=redis_url,
        asr_port=free_port(),
        license_proxy_port=free_port(),
        tts_piper_enabled=False,
        tts_svara_enabled=True,
        tts_llm_base_url=standin.url,
        snac_model_path=str(seeded_snac_dir()),
        snac_device="cpu",
        svara_stall_timeout_s=2.0,
        svara_health_interval_s=0.5,
        retry_after_s=2,
    )
    with ServerThread(create_app(settings)) as server:
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
    return encode_frames(shared_engine(), speech_like_audio(0.9))


def _body(**extra: object) -> dict[str, object]:
    return {"text": "नमस्ते दुनिया", "voice": "hi_male", "response_format": "pcm", "seed": SEED, **extra}


def test_streamed_pcm_equals_the_whole_utterance_decode(gateway: SvaraGateway, frames: np.ndarray) -> None:
    gateway.standin.script = Script(text=frames_to_token_text(frames), split_seed=11, max_piece=17)
    with httpx.stream("POST", f"{gateway.url}/v1/text-to-speech", json=_body(stream=True), timeout=60) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["x-sample-rate"] == "24000"
        pcm = b"".join(r.iter_bytes())
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32767  # the encoder scales by 32767
    whole = shared_engine().decode_whole(frames, seed=SEED)
    assert audio.shape == whole.shape == (len(frames) * 2048,)  # to the last frame
    assert snr_db(audio, whole) >= 60
    prompt = str(gateway.standin.requests[-1].payload["prompt"])
    assert "Hindi (Male)" in prompt and "hi_male" not in prompt


def test_upstream_refusing_gives_503_with_retry_after(gateway: SvaraGateway) -> None:
    gateway.standin.healthy = False  # vLLM restarting: its /health fails
    try:
        wait_until(lambda: _svara_state(gateway.url) == "down", 10, "the gateway to see vLLM down")
        response = httpx.post(f"{gateway.url}/v1/text-to-speech", json=_body(), timeout=10)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == "upstream_unavailable"
    finally:
        gateway.standin.healthy = True
        wait_until(lambda: _svara_state(gateway.url) == "ready", 10, "svara back")


def test_mid_stream_failure_is_an_sse_error_event(gateway: SvaraGateway, frames: np.ndarray) -> None:
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
