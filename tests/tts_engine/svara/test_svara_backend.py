"""SvaraBackend over real HTTP against the vLLM stand-in, only for what real vLLM cannot be made to
do on demand: /health failing while it runs, 503 while loading, a stream breaking or stalling midway.
Everything real vLLM can show (audio, prompt ids, sampling, aborts, max_tokens) is in
test_svara_real_vllm.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from tests.support import free_port
from tests.support.svara import config_for_tests, shared_engine, speech_like_audio
from tests.support.vllm_standin import Script, VllmStandin
from tts_engine.base import SamplingParams, SynthesisRequest
from tts_engine.svara.backend import SvaraBackend
from tts_engine.svara.errors import SvaraBadRequest, SvaraStalled, SvaraStreamFailed, SvaraUnavailable
from tts_engine.svara.prompt import PromptTemplate
from tts_engine.svara.tokens import frames_to_token_text
from tts_engine.svara.vllm_client import VllmClient
from tts_engine.voices import load_svara_voices

VOICE = load_svara_voices()["hi_female"].voice
STALL_S = 1.0


@pytest.fixture(scope="module")
def standin() -> Iterator[VllmStandin]:
    server = VllmStandin().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    frames = shared_engine().encode(speech_like_audio(0.9))
    frames[1, 0], frames[4, 6] = 0, 4095  # the two edge codes must survive the whole path
    return frames


@pytest.fixture
async def backend(standin: VllmStandin) -> AsyncIterator[SvaraBackend]:
    standin.healthy = True
    standin.script = Script()
    yield await _backend(standin.url)


async def _backend(url: str) -> SvaraBackend:
    config = config_for_tests(tts_llm_base_url=url, svara_stall_timeout_s=STALL_S)
    template = PromptTemplate.load(config.template)
    client = VllmClient(config, stop_token_ids=template.stop_token_ids)
    backend = SvaraBackend(
        config=config, client=client, engine=shared_engine(), template=template, voices=load_svara_voices()
    )
    await backend.start()
    return backend


async def _collect(backend: SvaraBackend, request: SynthesisRequest) -> np.ndarray:
    chunks = [chunk async for chunk in backend.synthesize(request)]
    return np.concatenate(chunks)


def _request(text: str = "नमस्ते दुनिया", **sampling: float) -> SynthesisRequest:
    return SynthesisRequest(
        text=text, voice=VOICE, sampling=SamplingParams(seed=5, **sampling), request_id="t"
    )


async def test_out_of_bounds_sampling_is_refused_before_any_request(
    backend: SvaraBackend, standin: VllmStandin
) -> None:
    sent = len(standin.requests)
    with pytest.raises(SvaraBadRequest, match="temperature"):
        backend.check(_request(temperature=5.0))
    with pytest.raises(SvaraBadRequest, match="top_k"):
        await _collect(backend, _request(top_k=0))
    assert len(standin.requests) == sent
    await backend.close()


async def test_refused_connection_is_unavailable_at_once() -> None:
    backend = await _backend(f"http://127.0.0.1:{free_port()}")
    assert not backend.is_available()
    with pytest.raises(SvaraUnavailable):
        backend.check(_request())
    backend.problem = None  # as if the probe had not noticed yet: the request itself finds out
    started = time.monotonic()
    with pytest.raises(SvaraUnavailable) as caught:
        await _collect(backend, _request())
    assert time.monotonic() - started < 5
    assert caught.value.retry_after_s > 0
    assert not backend.is_available()
    await backend.close()


async def test_availability_tracks_vllm_health(backend: SvaraBackend, standin: VllmStandin) -> None:
    assert backend.is_available()
    standin.healthy = False
    assert await backend.refresh() is False
    assert backend.problem == "vLLM's /health answered HTTP 503"
    with pytest.raises(SvaraUnavailable):
        backend.check(_request())
    standin.healthy = True
    assert await backend.refresh() is True
    await backend.close()


async def test_upstream_503_is_unavailable(backend: SvaraBackend, standin: VllmStandin) -> None:
    standin.healthy = False  # /v1/completions answers 503 while the model loads
    with pytest.raises(SvaraUnavailable):
        await _collect(backend, _request())
    await backend.close()


@pytest.mark.parametrize(
    "script", [{"fail_after_events": 40}, {"error_event_after": 40}, {"send_done": False}], ids=str
)
async def test_mid_stream_failure_ends_the_stream_with_a_distinct_error(
    backend: SvaraBackend, standin: VllmStandin, frames: np.ndarray, script: dict[str, object]
) -> None:
    standin.script = Script(text=frames_to_token_text(frames), max_piece=30, **script)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(SvaraStreamFailed):
        await _collect(backend, _request())
    assert time.monotonic() - started < 10
    await backend.close()


async def test_stall_times_out(backend: SvaraBackend, standin: VllmStandin, frames: np.ndarray) -> None:
    standin.script = Script(text=frames_to_token_text(frames), max_piece=30, stall_after_events=20)
    started = time.monotonic()
    with pytest.raises(SvaraStalled):
        await _collect(backend, _request())
    assert time.monotonic() - started < STALL_S + 5
    await backend.close()
