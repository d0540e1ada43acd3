"""Gateway-side decoding: the formats users send, and the bad files they sometimes send."""

from __future__ import annotations

import numpy as np
import pytest

from app.audio.decode import decode_audio
from app.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from app.services.subtitles import to_srt, to_vtt
from app.services.transcription import Segment
from tests.support.asr import encode, to_wav


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [("mp3", "libmp3lame"), ("flac", "flac"), ("ogg", "libopus"), ("ipod", "aac"), ("webm", "libopus")],
)
def test_formats_decode_to_16k_with_the_right_length(fmt: str, codec: str) -> None:
    rate = 48000 if codec == "libopus" else 44100
    data = encode(_tone(2.0, rate), rate, fmt, codec=codec)
    audio = decode_audio(data, max_seconds=60)
    assert abs(audio.duration - 2.0) < 0.1, audio.duration  # codec padding is a few ms
    samples = np.frombuffer(audio.pcm, dtype="<i2")
    assert np.abs(samples).max() > 4000  # the tone survived, not silence


def test_wav_at_8k_is_resampled() -> None:
    audio = decode_audio(to_wav(_tone(1.0, 8000), 8000), max_seconds=60)
    assert audio.source_rate == 8000 and abs(audio.duration - 1.0) < 0.01


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", BadRequest),
        (np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes(), UnsupportedMedia),
        (to_wav(_tone(1.0, 16000), 16000)[:20000], BadRequest),
        (b"RIFF", UnsupportedMedia),
        (b"<html>not audio</html>", UnsupportedMedia),
    ],
    ids=["empty", "random", "truncated-wav", "riff-only", "html"],
)
def test_bad_files(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_audio(data, max_seconds=60)


def test_duration_limit_from_header_and_while_decoding() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_audio(to_wav(_tone(3.0, 16000), 16000), max_seconds=2)
    # Raw ADTS AAC has no duration in its header: the limit is enforced while counting samples.
    with pytest.raises(PayloadTooLarge):
        decode_audio(encode(_tone(3.0, 16000), 16000, "adts", codec="aac"), max_seconds=2)


def test_subtitles() -> None:
    segments = [
        Segment(id=0, start=0.0, end=1.5, text=" Hello."),
        Segment(id=1, start=3661.25, end=3662.0, text="Bye"),
    ]
    assert (
        to_srt(segments)
        == "1\n00:00:00,000 --> 00:00:01,500\nHello.\n\n2\n01:01:01,250 --> 01:01:02,000\nBye\n"
    )
    assert to_vtt(segments).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello.\n\n01:01:01.250")
