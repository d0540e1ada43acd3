"""SvaraBackend against real vLLM (the CPU build) serving the Svara-shaped test model.

The model is trained to answer each speaker in SPEAKERS with known frames, so the audio can be
checked exactly, and two speakers giving two different known sequences proves that the speaker
string reached the model. A change in vLLM's streaming format, tokenization or parameter handling
that would break the appliance fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import numpy as np
import pytest

from common.metrics import SVARA_UPSTREAM_ERRORS
from tests.support import wait_until
from tests.support.real_vllm import API_KEY, AUTH, SERVED_NAME, RealVllm
from tests.support.svara import config_for_tests, shared_engine, snr_db
from tests.support.svara_model import BOS, LOOP_VOICE, SPEAKERS, TEXTS, known_frames
from tts_engine.base import SamplingParams, SynthesisRequest
from tts_engine.svara.backend import SvaraBackend
from tts_engine.svara.errors import SvaraBadRequest, SvaraUnavailable
from tts_engine.svara.prompt import DEFAULT_TEMPLATES_PATH, PromptTemplate
from tts_engine.svara.tokens import CODES_PER_FRAME, frames_to_token_text
from tts_engine.svara.vllm_client import SAMPLING_BOUNDS, VllmClient
from tts_engine.voices import load_svara_voices

VOICES = load_svara_voices()
SEED = 5
_TOKEN = re.compile(r"<custom_token_(\d+)>")


async def _backend(vllm: RealVllm, *, frame_processor: bool = True) -> SvaraBackend:
    config = config_for_tests(
        tts_llm_base_url=vllm.url, vllm_api_key=API_KEY, vllm_served_model_name=SERVED_NAME, svara_stall_timeout_s=60
    )
    template = PromptTemplate.load("svara-v1")
    client = VllmClient(
        config,
        stop_token_ids=template.stop_token_ids,
        frame_xargs=template.frame_xargs() if frame_processor else None,
    )
    backend = SvaraBackend(config=config, client=client, engine=shared_engine(), template=template, voices=VOICES)
    await backend.start()
    return backend


@pytest.fixture
async def backend(real_vllm: RealVllm) -> AsyncIterator[SvaraBackend]:
    backend = await _backend(real_vllm)
    yield backend
    await backend.close()


def _request(voice_id: str, text: str = TEXTS[0], **sampling: float) -> SynthesisRequest:
    params = SamplingParams(**{"seed": SEED, **sampling})  # type: ignore[arg-type]
    return SynthesisRequest(text=text, voice=VOICES[voice_id].voice, sampling=params, request_id="t")


async def _collect(backend: SvaraBackend, request: SynthesisRequest) -> np.ndarray:
    return np.concatenate([chunk async for chunk in backend.synthesize(request)])


def _layout_ids(template: PromptTemplate, vllm: RealVllm, speaker: str, text: str) -> list[int]:
    """The Svara reference layout in ids: the template's special ids around the tokenized text slot."""
    slot = vllm.tokenize(template.text.format(speaker=speaker, text=text))
    ids: list[int] = []
    for part in template.layout_ids():
        ids += slot if part == "{text}" else [int(part)]
    return ids


@pytest.mark.parametrize(
    "name", [n for n in json.loads(DEFAULT_TEMPLATES_PATH.read_text()) if not n.startswith("_")]
)
def test_prompt_ids_follow_the_template_with_one_bos(real_vllm: RealVllm, name: str) -> None:
    template = PromptTemplate.load(name)
    prompt = template.build("Hindi (Male)", "नमस्ते, how are you?")
    ids = real_vllm.tokenize(prompt)  # add_special_tokens=false, as the gateway sends it
    assert ids == _layout_ids(template, real_vllm, "Hindi (Male)", "नमस्ते, how are you?")
    assert ids.count(BOS) == 1
    speaker = real_vllm.tokenize("Hindi (Male)")
    assert any(ids[i : i + len(speaker)] == speaker for i in range(len(ids)))
    # Why the gateway sends add_special_tokens=false: the tokenizer would prepend a second BOS.
    if template.layout[0] == "bos":
        assert real_vllm.tokenize(prompt, add_special_tokens=True)[:2] == [BOS, BOS]


def test_the_request_the_gateway_sends_reaches_the_model_with_one_bos(
    backend: SvaraBackend, real_vllm: RealVllm
) -> None:
    # The gateway's own request body, with vLLM asked to echo the prompt ids it generated from.
    prompt = backend.prompt_for(_request("hi_male"))
    body = backend.client.payload(prompt, SamplingParams(temperature=0.7, top_p=0.9, top_k=40,
                                                         repetition_penalty=1.1, max_tokens=28))
    body.update(stream=False, return_token_ids=True)
    choice = httpx.post(f"{real_vllm.url}/v1/completions", json=body, headers=AUTH, timeout=60).json()["choices"][0]
    template = backend.template
    assert choice["prompt_token_ids"] == _layout_ids(template, real_vllm, "Hindi (Male)", TEXTS[0])
    assert choice["prompt_token_ids"].count(BOS) == 1


async def test_each_speaker_streams_the_snac_decode_of_its_known_codes(backend: SvaraBackend) -> None:
    heard = {}
    for voice_id in SPEAKERS:
        heard[voice_id] = await _collect(backend, _request(voice_id, text=TEXTS[1]))
    for voice_id, audio in heard.items():
        whole = shared_engine().decode_whole(known_frames(voice_id), seed=SEED)
        assert audio.shape == whole.shape  # to the last frame
        assert snr_db(audio, whole) >= 60
    first, second = SPEAKERS
    assert not np.array_equal(known_frames(first), known_frames(second))  # the speaker made the difference


@pytest.mark.parametrize("end", [0, 1], ids=["lowest", "highest"])
async def test_sampling_fields_reach_vllm_and_are_accepted(backend: SvaraBackend, end: int) -> None:
    # Every field at the edge of the range the gateway allows: vLLM must take each one. The model is
    # trained with margins so wide that even these settings keep the known frames.
    sampling = {name: bounds[end] for name, bounds in SAMPLING_BOUNDS.items() if name != "max_tokens"}
    audio = await _collect(backend, _request("ta_female", **sampling))
    whole = shared_engine().decode_whole(known_frames("ta_female"), seed=int(sampling["seed"]))
    assert snr_db(audio, whole) >= 60


async def test_vllm_refusing_a_parameter_is_a_bad_request(backend: SvaraBackend, real_vllm: RealVllm) -> None:
    # vLLM refuses some parameters with HTTP 400 before the stream (top_p=0, outside the gateway's
    # bounds, which stop it first), and others as an error event inside a 200 stream (a custom
    # argument its logits processor rejects): both must be a clear 4xx, not a broken stream.
    prompt = backend.prompt_for(_request("hi_male"))
    sampling = SamplingParams(temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1, max_tokens=28)
    with pytest.raises(SvaraBadRequest, match="top_p"):
        async for _ in backend.client.stream(prompt, replace(sampling, top_p=0.0)):
            pass
    client = VllmClient(backend.client.config, stop_token_ids=[128258], frame_xargs={"svara_codebook": 0})
    try:
        with pytest.raises(SvaraBadRequest, match="svara"):
            async for _ in client.stream(prompt, sampling):
                pass
    finally:
        await client.close()


async def test_vllm_wants_its_api_key_and_a_wrong_one_is_unavailable(
    backend: SvaraBackend, real_vllm: RealVllm
) -> None:
    """The test vLLM runs with VLLM_API_KEY as the product's does: every other test here passes only
    because the gateway's client sends the key; without it vLLM answers 401, and a gateway holding the
    wrong key answers 503 (the operator's mistake, not the client's). vLLM's own /health needs no key,
    so the client's health probe also asks the keyed /v1/models: a wrong key shows as unauthorized."""
    body = backend.client.payload(backend.prompt_for(_request("hi_male")), SamplingParams(max_tokens=7))
    async with httpx.AsyncClient(base_url=real_vllm.url, timeout=30) as http:
        assert (await http.post("/v1/completions", json=body)).status_code == 401
        assert (await http.post("/v1/completions", json=body, headers={"Authorization": "Bearer x"})).status_code == 401
        assert (await http.get("/health")).status_code == 200  # probes need no key
    wrong = VllmClient(replace(backend.client.config, vllm_api_key="not-the-key"), stop_token_ids=[128258])
    try:
        assert (await backend.client.health()).ok
        problem = (await wrong.health()).problem
        assert problem is not None and problem.startswith("unauthorized") and "VLLM_API_KEY" in problem
        with pytest.raises(SvaraUnavailable, match="credentials"):
            async for _ in wrong.stream("x", SamplingParams(max_tokens=7)):
                pass
    finally:
        await wrong.close()
    assert API_KEY not in real_vllm.log()


def _codes(text: str) -> list[int]:
    return [int(n) for n in _TOKEN.findall(text)]


def _invalid_positions(numbers: list[int], template: PromptTemplate) -> list[int]:
    """Positions whose token is neither a code of its slot nor, at a frame boundary, an end id."""
    bad = []
    for i, number in enumerate(numbers):
        slot = i % CODES_PER_FRAME
        low = template.audio_code_offset + slot * template.codebook_size
        in_slot = low <= number < low + template.codebook_size
        ends = [t - template.custom_token_offset for t in template.stop_token_ids]
        if not in_slot and not (slot == 0 and number in ends):
            bad.append(i)
    return bad


async def test_every_frame_is_valid_by_construction(real_vllm: RealVllm) -> None:
    # A prompt that already holds three codes of a known sequence: the model continues the sequence,
    # so its next token is a slot-3 code where the gateway counts slot 0. Without the frame
    # processor every frame is then invalid; with it every 7-token group is valid, at the hottest
    # sampling settings the gateway allows.
    template = PromptTemplate.load("svara-v1")
    head = "".join(f"<custom_token_{n}>" for n in _codes(frames_to_token_text(known_frames("hi_male")[:1]))[:3])
    prompt = template.build(VOICES["hi_male"].speaker, TEXTS[0]) + head
    sampling = SamplingParams(temperature=1.5, top_p=1.0, top_k=200, repetition_penalty=2.0, max_tokens=70)
    invalid = {}
    for processor in (True, False):
        backend = await _backend(real_vllm, frame_processor=processor)
        try:
            text = "".join([piece async for piece in backend.client.stream(prompt, sampling)])
        finally:
            await backend.close()
        numbers = _codes(text)
        assert len(numbers) >= CODES_PER_FRAME
        invalid[processor] = _invalid_positions(numbers, template)
    assert invalid[True] == []
    assert len(invalid[False]) > 0


async def test_client_leaving_aborts_the_vllm_request(backend: SvaraBackend, real_vllm: RealVllm) -> None:
    # The looping voice runs to max_tokens (thousands of tokens) unless the request is aborted.
    request = _request(LOOP_VOICE, repetition_penalty=1.0)
    room = backend.client.max_tokens_for(backend.prompt_for(request))
    # The scenario needs the client to leave while most of the room is still ahead. On two shared
    # cores vLLM can race through the room before the first audio is decoded; then it is set up again
    # (this retries the set-up, never the assertion).
    for _ in range(3):
        generated = real_vllm.metric("vllm:generation_tokens_total")
        stream = backend.synthesize(request)
        first = await stream.__anext__()
        assert first.size > 0
        at_leave = real_vllm.metric("vllm:generation_tokens_total") - generated
        await stream.aclose()  # what the gateway does when its client disconnects
        await asyncio.to_thread(
            wait_until, lambda: real_vllm.metric("vllm:num_requests_running") == 0, 60, "vLLM to drop the request"
        )
        if at_leave < room / 4:
            break
    else:
        pytest.fail(f"three times, the first audio came only after {at_leave:.0f} of {room} tokens")
    assert real_vllm.metric("vllm:generation_tokens_total") - generated < room  # cut short, not run to the end


async def test_generation_cut_at_max_tokens_is_reported_and_keeps_its_audio(backend: SvaraBackend) -> None:
    before = SVARA_UPSTREAM_ERRORS.labels(kind="length")._value.get()
    audio = await _collect(backend, _request("hi_male", max_tokens=4 * CODES_PER_FRAME))
    assert audio.shape == (4 * 2048,)
    assert SVARA_UPSTREAM_ERRORS.labels(kind="length")._value.get() - before == 1
    whole = shared_engine().decode_whole(known_frames("hi_male")[:4], seed=SEED)
    assert snr_db(audio, whole) >= 60
