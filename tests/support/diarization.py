"""Synthetic conversations for the speaker-label tests and bench: who spoke when is known exactly.

Voices are the Piper voice (`en_us_joe`) and espeak-ng voice variants. Variants must be given on a
language without a region suffix other than `en-us` (espeak-ng 1.51 ignores `+variant` on `en-gb`).
Two disjoint sets: the clustering was tuned on TUNING_VOICES only; the test asserts on HELD_OUT_VOICES.

Also the CAM++ model, exported once per test session (tests/conftest.py registers this module as a
plugin; the export is itself under test in tests/asr_engine/diarization/test_model.py).
"""

from __future__ import annotations

import io
import itertools
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.pcm import pcm16_to_float
from tests.support.asr import READING, Speech, piper_speech

PIPER = "piper:en_us_joe"
TUNING_VOICES = (PIPER, "espeak:en-us+m3", "espeak:en+f2")
HELD_OUT_VOICES = ("espeak:en+Andy", "espeak:en-us+f4", "espeak:en+klatt2")

SENTENCES = [
    *READING,
    "Our team will review the budget on Monday and send a summary.",
    "The museum opens at nine and closes early on public holidays.",
]
RATE = 16000


@dataclass(frozen=True)
class Turn:
    speaker: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Conversation:
    audio: np.ndarray  # 16 kHz mono float32
    turns: list[Turn]
    speakers: int

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE


def speak(voice: str, text: str) -> np.ndarray:
    """One sentence as 16 kHz mono float32 (silence trimmed by the synthesiser only)."""

    kind, _, name = voice.partition(":")
    if kind == "piper":
        speech = piper_speech([text], pause_s=0.0)
    else:
        wav = subprocess.run(["espeak-ng", "-v", name, "-s", "150", "--stdout", text], capture_output=True, check=True)
        with wave.open(io.BytesIO(wav.stdout)) as reader:
            pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
            speech = Speech(text, pcm, reader.getframerate())
    return pcm16_to_float(speech.pcm16k())


def conversation(voices: Sequence[str], turns: int, gap_s: float = 0.5, first_sentence: int = 0) -> Conversation:
    """`turns` sentences, spoken by the voices in rotation, `gap_s` of silence between them."""
    gap = np.zeros(int(gap_s * RATE), dtype=np.float32)
    parts, spoken, at = [gap], [], gap_s
    for index in range(turns):
        speaker = index % len(voices)
        text = SENTENCES[(first_sentence + index) % len(SENTENCES)]
        audio = speak(voices[speaker], text)
        spoken.append(Turn(speaker, at, at + len(audio) / RATE, text))
        parts += [audio, gap]
        at += len(audio) / RATE + gap_s
    return Conversation(np.concatenate(parts), spoken, min(turns, len(voices)))


def true_speaker(turns: Sequence[Turn], start: float, end: float) -> int:
    """The speaker whose turn holds the word's midpoint (or is nearest to it)."""
    middle = (start + end) / 2

    def distance(turn: Turn) -> float:
        return 0.0 if turn.start <= middle <= turn.end else min(abs(turn.start - middle), abs(turn.end - middle))

    return min(turns, key=distance).speaker


def word_accuracy(words: Sequence[dict[str, Any]], turns: Sequence[Turn]) -> float:
    """Share of words whose speaker is right, under the best one-to-one naming of the found speakers."""
    if not words:
        return 0.0
    truth = [true_speaker(turns, float(w["start"]), float(w["end"])) for w in words]
    found = [int(w["speaker"]) for w in words]
    names = sorted(set(found))
    real = sorted(set(truth))
    best = 0
    slots = max(len(names), len(real))
    for order in itertools.permutations(range(slots), len(names)):
        mapping = dict(zip(names, order, strict=True))
        best = max(best, sum(mapping[f] == t for f, t in zip(found, truth, strict=True)))
    return best / len(words)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """(the ONNX file, its largest difference from the torch model on the export's checks)."""
    from asr_engine.diarization.export import export

    path = tmp_path_factory.mktemp("campplus") / "campplus.onnx"
    return path, export(path)


@pytest.fixture(scope="session")
def speaker_model(exported: tuple[Path, float]) -> Path:
    return exported[0]
