"""Custom vocabulary: keywords as faster-whisper hotwords, with limits that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from faster_whisper import WhisperModel

from asr_engine.vocabulary import MAX_HOTWORD_TOKENS, Vocabulary, load_vocabulary_file, whisper_token_counter
from common.asr_options import MAX_KEYWORD_CHARS, MAX_KEYWORDS, InvalidOption, parse_keywords
from common.pcm import pcm16_to_float
from tests.support.asr import NAMES, names_speech


def test_keywords_in_every_spelling_the_apis_use() -> None:
    assert parse_keywords("Venkataraman, Kottayam") == list(NAMES)
    assert parse_keywords(["Venkataraman:2", "Kottayam:1.5"]) == list(NAMES)  # Deepgram's boosts
    assert parse_keywords(["Venkataraman", "uh:-5"]) == ["Venkataraman"]  # a negative boost suppresses
    assert parse_keywords(["Kottayam", " kottayam ", "", "New   Delhi"]) == ["Kottayam", "New Delhi"]
    assert parse_keywords(None) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([f"word{i}" for i in range(MAX_KEYWORDS + 1)], f"at most {MAX_KEYWORDS}"),
        (["x" * (MAX_KEYWORD_CHARS + 1)], f"at most {MAX_KEYWORD_CHARS}"),
        (["bad\x00word"], "control characters"),
    ],
)
def test_keywords_over_the_limits_are_refused(raw: list[str], message: str) -> None:
    with pytest.raises(InvalidOption, match=message) as caught:
        parse_keywords(raw)
    assert caught.value.param == "keywords"


def test_the_operator_file(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.txt"
    path.write_text("# our clinics\nKottayam\n\nVenkataraman  # the chief surgeon\n", encoding="utf-8")
    assert load_vocabulary_file(str(path)) == ["Kottayam", "Venkataraman"]
    assert load_vocabulary_file("") == []
    with pytest.raises(RuntimeError, match="ASR_VOCABULARY_FILE .*missing.txt"):
        load_vocabulary_file(str(tmp_path / "missing.txt"))
    path.write_text("\n".join(f"word{i}" for i in range(MAX_KEYWORDS + 1)), encoding="utf-8")
    with pytest.raises(RuntimeError, match=f"ASR_VOCABULARY_FILE .*at most {MAX_KEYWORDS}"):
        load_vocabulary_file(str(path))


def test_hotwords_merge_the_operators_and_keep_the_token_budget(tiny_en: WhisperModel) -> None:
    count = whisper_token_counter(tiny_en)
    vocabulary = Vocabulary(["Kottayam"], count)
    assert vocabulary.hotwords(["kottayam", "Venkataraman"]) == "Kottayam, Venkataraman"
    assert Vocabulary([], count).hotwords([]) is None
    many = [f"Name{i}son" for i in range(MAX_KEYWORDS)]  # each a few tokens: far over the budget
    assert count(", ".join(many)) > MAX_HOTWORD_TOKENS
    over = r"take \d+ Whisper tokens \(the operator's vocabulary takes \d+\)"
    with pytest.raises(InvalidOption, match=over) as caught:
        vocabulary.hotwords(many)
    assert caught.value.param == "keywords"
    with pytest.raises(RuntimeError, match="ASR_VOCABULARY_FILE: the keywords take"):  # no request could fit
        Vocabulary(many, count)


@pytest.mark.slow
def test_keywords_fix_the_names_tiny_en_gets_wrong(tiny_en: WhisperModel) -> None:
    """The issue's sentence, spoken by Piper: tiny.en mishears both names, and hears them with keywords."""
    audio = pcm16_to_float(names_speech().pcm16k())
    plain = "".join(s.text for s in tiny_en.transcribe(audio, beam_size=5)[0])
    hotwords = Vocabulary([], whisper_token_counter(tiny_en)).hotwords(parse_keywords("Venkataraman, Kottayam"))
    helped = "".join(s.text for s in tiny_en.transcribe(audio, beam_size=5, hotwords=hotwords)[0])
    assert not any(name in plain for name in NAMES), plain
    assert all(name in helped for name in NAMES), helped
