"""OpenAI's TTS surface as real clients use it: the openai SDK and Pipecat's OpenAITTSService with
OpenAI's own voice names, `pcm` at the 24 kHz those clients assume, `GET /v1/models`, and a WAV
sent whole (not streamed) whose header carries its real sizes."""

from __future__ import annotations

import struct

import httpx
import openai
import pytest

from tests.support.tts_gateway import Gateway, audio_seconds

TEXT = "Hello from the appliance. This is a short test."


@pytest.fixture(scope="module")
def client(tts_gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tts_gateway.url}/v1", api_key="unused", max_retries=0)


# Piper varies its timing from one synthesis to the next (about 1.4 % standard deviation per clip),
# so durations are compared as means over a few clips, against the one failure that matters here:
# 22050 Hz samples labelled 24 kHz play 8.1 % short. The bound is halfway between the two.
TRIES = 8
HALFWAY = (1 + 22050 / 24000) / 2


@pytest.fixture(scope="module")
def reference_seconds(tts_gateway: Gateway) -> float:
    """The mean length of the text at the voice's own rate, from WAVs whose header tells the rate."""
    seconds = []
    for _ in range(TRIES):
        response = httpx.post(
            f"{tts_gateway.url}/v1/speak", json={"text": TEXT, "voice_id": "en_us_joe"}, timeout=120
        )
        assert response.status_code == 200, response.text
        seconds.append(audio_seconds(response.content))
    return sum(seconds) / len(seconds)


def assert_plays_at_its_length(seconds: float, reference: float, codec_padding_s: float = 0.0) -> None:
    """Resampled, not relabelled: a 22.05 kHz voice labelled 24 kHz plays 8 % short. Piper samples its
    durations, so means over TRIES syntheses are compared, halfway to that error. A lossy codec's padding
    (mp3: encoder delay and a partial last frame, under 0.1 s) only lengthens what is decoded."""
    ratio = seconds / reference
    assert HALFWAY < ratio and (seconds - codec_padding_s) / reference < 2 - HALFWAY, (seconds, reference)


def test_openai_voice_names_are_aliases_listed_in_the_catalogue(
    client: openai.OpenAI, tts_gateway: Gateway
) -> None:
    aliases = httpx.get(f"{tts_gateway.url}/v1/voices").json()["aliases"]
    # The cpu profile has only the Piper voice able to speak: every OpenAI name falls back to it.
    assert aliases["alloy"] == "en_us_joe" and aliases["onyx"] == "en_us_joe"
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="mp3")
    assert response.response.headers["x-voice"] == "en_us_joe"
    assert audio_seconds(response.content) > 1.0


def test_pcm_is_24khz_and_keeps_its_duration(
    client: openai.OpenAI, tts_gateway: Gateway, reference_seconds: float
) -> None:
    seconds = []
    for _ in range(TRIES):
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="nova", input=TEXT, response_format="pcm"
        ) as response:
            assert response.headers["x-sample-rate"] == "24000"
            seconds.append(len(response.read()) / 2 / 24000)
    # Resampled, not relabelled.
    assert_plays_at_its_length(sum(seconds) / TRIES, reference_seconds)


def test_sample_rate_field_still_wins(tts_gateway: Gateway) -> None:
    response = httpx.post(
        f"{tts_gateway.url}/v1/audio/speech",
        json={"input": TEXT, "voice": "alloy", "response_format": "pcm", "sample_rate": 16000},
        timeout=120,
    )
    assert response.headers["x-sample-rate"] == "16000"


def test_wav_not_streamed_carries_real_sizes(tts_gateway: Gateway, reference_seconds: float) -> None:
    seconds = []
    for _ in range(TRIES):
        response = httpx.post(
            f"{tts_gateway.url}/v1/audio/speech",
            json={"input": TEXT, "voice": "alloy", "response_format": "wav", "stream": False},
            timeout=120,
        )
        body = response.content
        assert response.headers["content-length"] == str(len(body))
        riff_size, data_size = struct.unpack("<I", body[4:8])[0], struct.unpack("<I", body[40:44])[0]
        assert (riff_size, data_size) == (len(body) - 8, len(body) - 44)
        rate = struct.unpack("<I", body[24:28])[0]
        seconds.append(data_size / 2 / rate)
    assert_plays_at_its_length(sum(seconds) / TRIES, reference_seconds)


def test_models_list(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert {"tts-1", "gpt-4o-mini-tts", "whisper-1", "gpt-4o-transcribe"} <= set(models)


async def test_pipecat_openai_tts_in_a_pipeline(tts_gateway: Gateway, reference_seconds: float) -> None:
    """Pipecat refuses voices outside OpenAI's names before sending, and plays `pcm` as 24 kHz."""
    from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame, TTSSpeakFrame
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.services.openai.tts import OpenAITTSService
    from pipecat.tests.utils import run_test

    tts = OpenAITTSService(
        api_key="unused", base_url=f"{tts_gateway.url}/v1", settings=OpenAITTSService.Settings(voice="alloy")
    )
    down, _ = await run_test(
        tts,
        frames_to_send=[TTSSpeakFrame(TEXT) for _ in range(TRIES)],
        pipeline_params=PipelineParams(audio_out_sample_rate=24000),
        start_timeout=10,
    )
    assert not [f for f in down if isinstance(f, ErrorFrame)]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio and {f.sample_rate for f in audio} == {24000}
    seconds = sum(len(f.audio) for f in audio) / 2 / 24000
    assert_plays_at_its_length(seconds / TRIES, reference_seconds)


async def test_livekit_openai_tts(tts_gateway: Gateway, reference_seconds: float) -> None:
    """LiveKit's OpenAI TTS (default model: SSE of mp3) decodes to 24 kHz frames."""
    from livekit.agents.utils import http_context
    from livekit.plugins import openai as lk_openai

    seconds = 0.0
    async with http_context.open():
        engine = lk_openai.TTS(base_url=f"{tts_gateway.url}/v1", api_key="unused", voice="alloy")
        for _ in range(TRIES):
            async with engine.synthesize(TEXT) as stream:
                async for event in stream:
                    assert event.frame.sample_rate == 24000
                    seconds += event.frame.samples_per_channel / 24000
        await engine.aclose()
    assert_plays_at_its_length(seconds / TRIES, reference_seconds, codec_padding_s=0.1)
