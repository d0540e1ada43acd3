"""Round trip through the real appliance (supervisord, CPU profile): a paragraph spoken by Piper via
POST /v1/audio/speech, transcribed back via POST /v1/listen by the ASR worker. Every sentence must be
there (no text silently dropped)."""

from __future__ import annotations

import re

import httpx
import jiwer
import pytest

from tests.support import Stack
from tts_engine.text import normalize_text

pytestmark = pytest.mark.slow

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


@pytest.mark.parametrize("response_format", ["mp3", "flac"])
def test_paragraph_round_trip_through_both_apis(stack: Stack, response_format: str) -> None:
    paragraph = " ".join(SENTENCES)
    speech = httpx.post(
        f"{stack.url}/v1/audio/speech",
        json={"model": "tts-1", "input": paragraph, "voice": "en_us_joe", "response_format": response_format},
        timeout=300,
    )
    assert speech.status_code == 200, speech.text
    heard = httpx.post(
        f"{stack.url}/v1/listen",
        content=speech.content,
        headers={"Content-Type": f"audio/{response_format}"},
        timeout=300,
    )
    assert heard.status_code == 200, heard.text
    hypothesis = _clean(heard.json()["text"])
    # tiny.en on clean synthetic speech: 10 % is the bar; it leaves room for a few misheard
    # words while a dropped sentence (~9 words of 77) alone would already cost 12 %.
    assert jiwer.wer(_clean(paragraph), hypothesis) <= 0.10, hypothesis
    # Each sentence heard: a dropped sentence scores ~0 hits, while tiny.en mishearing a word or two
    # of Piper's (unseeded, slightly varying) delivery costs at most a third of a short sentence.
    for sentence in SENTENCES:
        words = _clean(sentence).split()
        assert jiwer.process_words(" ".join(words), hypothesis).hits >= 0.66 * len(words), (sentence, hypothesis)
    # Neither the text spoken nor the transcript appears in any program's log (metadata only).
    logs = {path.name: path.read_text(errors="replace") for path in (stack.data_dir / "logs").glob("*.log")}
    assert {"gateway.log", "asr_worker.log", "license_proxy.log"} <= set(logs)
    for name, content in logs.items():
        for needle in ("patiently", "football", heard.json()["text"][:40]):
            assert needle not in content, f"{needle!r} found in {name}"
