"""Speaker labels on real transcriptions: the right speaker count and >= 95 % of words labelled right.

Clips of 1, 2 and 3 speakers, spoken by tests.support.diarization.HELD_OUT_VOICES (espeak-ng `en+Andy`,
`en-us+f4`, `en+klatt2`), transcribed by tiny.en with word timestamps. The clustering's thresholds
were tuned on other voices (TUNING_VOICES: Piper en_us_joe, espeak-ng `en-us+m3`, `en+f2`), never on
these. bench/diarization.py prints the same measure for both sets and the compute it costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faster_whisper import WhisperModel

from asr_engine.diarization import Diarizer, turns
from asr_engine.transcriber import Options, transcribe
from common.asr_options import SpeakerHints
from tests.support.diarization import HELD_OUT_VOICES, Conversation, conversation, word_accuracy

pytestmark = pytest.mark.slow

MIN_ACCURACY = 0.95


@pytest.fixture(scope="module")
def clips(tiny_en: WhisperModel) -> dict[int, tuple[Conversation, list[dict[str, Any]]]]:
    """{speakers: (clip, tiny.en's words)}: 3, 4 and 6 sentences, voices in rotation."""
    out = {}
    for speakers, sentences in ((1, 3), (2, 4), (3, 6)):
        clip = conversation(HELD_OUT_VOICES[:speakers], sentences, first_sentence=speakers)
        result = transcribe(tiny_en, None, clip.audio, Options(word_timestamps=True, beam_size=1))
        assert len(result["words"]) >= 6 * sentences, result["text"]  # a clip tiny.en could not hear proves nothing
        out[speakers] = (clip, result["words"])
    return out


@pytest.fixture(scope="module")
def diarizer(speaker_model: Path) -> Diarizer:
    return Diarizer(speaker_model, threads=2)


@pytest.mark.parametrize("speakers", [1, 2, 3])
def test_speaker_count_and_word_labels(clips: dict, diarizer: Diarizer, speakers: int) -> None:
    clip, words = clips[speakers]
    result = diarizer.diarize(clip.audio, words)
    assert result.speakers == speakers
    assert word_accuracy(result.words, clip.turns) >= MIN_ACCURACY
    assert [w["word"] for w in result.words] == [w["word"] for w in words]  # labelled, not changed
    assert all(0.0 < w["speaker_confidence"] <= 1.0 for w in result.words)


def test_turns_follow_the_speakers(clips: dict, diarizer: Diarizer) -> None:
    clip, words = clips[3]
    found = turns(diarizer.diarize(clip.audio, words).words)
    assert [t.speaker for t in found] == [0, 1, 2, 0, 1, 2]  # one turn per sentence, in rotation
    for turn, spoken in zip(found, clip.turns, strict=True):
        # Whisper's word timings are loose by a few hundred ms (a first word may start at 0.0)
        assert spoken.start - 0.6 <= turn.start < turn.end <= spoken.end + 0.6


def test_hints_bound_the_count(clips: dict, diarizer: Diarizer) -> None:
    clip, words = clips[3]
    assert diarizer.diarize(clip.audio, words, SpeakerHints(max_speakers=2)).speakers == 2
    clip, words = clips[2]
    assert diarizer.diarize(clip.audio, words, SpeakerHints(min_speakers=3)).speakers == 3
    forced = diarizer.diarize(clip.audio, words, SpeakerHints(num_speakers=2))
    assert forced.speakers == 2 and word_accuracy(forced.words, clip.turns) >= MIN_ACCURACY
