"""Every output format decodes with PyAV to the expected duration and sample rate; streaming WAV
plays from a prefix; sample_rate and speed do what they say."""

from __future__ import annotations

import io

import av
import httpx
import numpy as np
import pytest

from app.audio.transform import AudioTransform
from tests.support.tts_gateway import Gateway

TEXT = "The quick brown fox jumps over the lazy dog. It was a sunny day."


def _speech(gw: Gateway, **body: object) -> httpx.Response:
    payload = {"input": TEXT, "voice": "en_us_joe", **body}
    response = httpx.post(f"{gw.url}/v1/audio/speech", json=payload, timeout=120)
    assert response.status_code == 200, response.text
    return response


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        frames = [f for f in container.decode(audio=0)]
    samples = np.concatenate([f.to_ndarray().reshape(f.layout.nb_channels, -1)[0] for f in frames])
    return samples.astype(np.float32), frames[0].sample_rate


@pytest.fixture(scope="module")
def reference(tts_gateway: Gateway) -> float:
    """Duration of the text as raw PCM at the voice's own rate (22050 Hz; OpenAI's pcm default is 24 kHz)."""
    response = _speech(tts_gateway, response_format="pcm", sample_rate=22050)
    assert response.headers["x-sample-rate"] == "22050"
    return len(response.content) / 2 / 22050


@pytest.fixture(scope="module")
def reference_pitch(tts_gateway: Gateway) -> float:
    return _centroid_hz(_decode(_speech(tts_gateway, response_format="wav").content)[0], 22050)


@pytest.mark.parametrize(
    ("fmt", "content_type", "rate", "slack_s"),
    [
        ("wav", "audio/wav", 22050, 0.01),
        ("mp3", "audio/mpeg", 22050, 0.12),  # encoder delay and padding, no gapless header in a stream
        ("opus", "audio/ogg", 48000, 0.05),
        ("flac", "audio/flac", 22050, 0.01),
        ("aac", "audio/aac", 22050, 0.12),
    ],
)
def test_format_decodes_to_expected_duration_and_rate(
    tts_gateway: Gateway, reference: float, fmt: str, content_type: str, rate: int, slack_s: float
) -> None:
    response = _speech(tts_gateway, response_format=fmt)
    assert response.headers["content-type"] == content_type
    assert response.headers["x-sample-rate"] == str(rate)
    samples, decoded_rate = _decode(response.content)
    assert decoded_rate == rate
    duration = samples.size / decoded_rate
    # Piper is not deterministic to the sample (noise_w), so compare with some room.
    assert abs(duration - reference) < slack_s + 0.06 * reference, (duration, reference)
    assert np.abs(samples).max() > 0.1  # speech, not silence


def test_streaming_wav_plays_from_a_prefix(tts_gateway: Gateway) -> None:
    long_text = " ".join([TEXT] * 6)
    with httpx.stream(
        "POST",
        f"{tts_gateway.url}/v1/audio/speech",
        timeout=120,
        json={"input": long_text, "voice": "en_us_joe", "response_format": "wav"},
    ) as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        prefix = b""
        for part in response.iter_bytes():
            prefix += part
            if len(prefix) > 22050:  # half a second of audio, far from the end
                break
    samples, rate = _decode(prefix)
    assert rate == 22050
    assert samples.size >= (len(prefix) - 44) // 2 - 1152  # every sample that arrived decodes


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_sample_rate_is_resampled(
    tts_gateway: Gateway, reference: float, reference_pitch: float, rate: int
) -> None:
    response = httpx.post(
        f"{tts_gateway.url}/v1/text-to-speech",
        timeout=120,
        json={"text": TEXT, "voice": "en_us_joe", "response_format": "wav", "sample_rate": rate},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-sample-rate"] == str(rate)
    samples, decoded_rate = _decode(response.content)
    assert decoded_rate == rate
    assert abs(samples.size / rate - reference) < 0.06 * reference + 0.01
    assert _centroid_hz(samples, rate) == pytest.approx(reference_pitch, rel=0.15)  # same voice, new rate


def _centroid_hz(samples: np.ndarray, rate: int) -> float:
    """Spectral centroid (50-3500 Hz) of the long-term average spectrum. Changing tempo keeps it;
    changing pitch (playing faster, or a naive resample) moves it by the same factor."""
    size = 2048 * rate // 22050
    frames = [samples[i : i + size] for i in range(0, samples.size - size, size // 2)]
    spectrum = np.mean([np.abs(np.fft.rfft(f * np.hanning(size))) for f in frames], axis=0)
    freqs = np.fft.rfftfreq(size, 1 / rate)
    band = (freqs >= 50) & (freqs <= 3500)
    return float(np.sum(freqs[band] * spectrum[band]) / np.sum(spectrum[band]))


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_changes_tempo_not_pitch(tts_gateway: Gateway, reference: float, speed: float) -> None:
    """Through the API; Piper varies durations a little from one request to the next, so the
    exact check on one fixed clip is the test below."""
    fast, _ = _decode(_speech(tts_gateway, response_format="wav", speed=speed).content)
    assert abs(fast.size / 22050 - reference / speed) < 0.15 * reference / speed


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.25, 2.0])
def test_speed_filter_on_a_fixed_clip(tts_gateway: Gateway, speed: float) -> None:
    pcm = _speech(tts_gateway, response_format="pcm").content
    clip = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767
    transform = AudioTransform(22050, 22050, speed)
    out = np.concatenate([transform.process(part) for part in np.array_split(clip, 9)] + [transform.flush()])
    assert out.size == pytest.approx(clip.size / speed, rel=0.02)
    assert _centroid_hz(out, 22050) == pytest.approx(_centroid_hz(clip, 22050), rel=0.1)
