"""Pronunciation lexicons: whole words, case-sensitive, longest first, the request's ahead of the
operator's, applied before numbers are read; operator files and their start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_engine.text import LexiconError, lexicon_of, load_lexicons, normalize_text
from tts_engine.text.lexicon import apply_lexicons


def test_whole_words_only_and_case_sensitive() -> None:
    words = lexicon_of({"IT": "आई टी", "राम": "RAAM"})
    assert apply_lexicons("IT और it और ITC", [words]) == "आई टी और it और ITC"
    # An Indic word inside a longer one is left alone (vowel signs count as letters).
    assert apply_lexicons("राम रामायण पढ़ते हैं, राम।", [words]) == "RAAM रामायण पढ़ते हैं, RAAM।"


def test_the_longest_entry_wins() -> None:
    words = lexicon_of({"New": "न्यू", "New Delhi": "नई दिल्ली"})
    assert apply_lexicons("New Delhi is New", [words]) == "नई दिल्ली is न्यू"


def test_the_request_wins_and_a_spoken_form_is_not_looked_up_again() -> None:
    request = lexicon_of({"SBI": "एस बी आई"})
    operator = lexicon_of({"SBI": "स्टेट बैंक", "ATM": "ए टी एम", "एस": "NO"})
    assert apply_lexicons("SBI ATM", [request, operator]) == "एस बी आई ए टी एम"


def test_lexicons_apply_before_numbers_are_read() -> None:
    words = lexicon_of({"24x7": "24 घंटे", "Dr.": "डॉक्टर"})
    assert normalize_text("Dr. शर्मा 24x7 उपलब्ध हैं", "hi", (words,)) == "डॉक्टर शर्मा चौबीस घंटे उपलब्ध हैं"


def test_an_empty_word_is_refused() -> None:
    assert lexicon_of({}) is None
    with pytest.raises(LexiconError, match="empty"):
        lexicon_of({"  ": "x"})


def test_operator_files_tsv_and_json(tmp_path: Path) -> None:
    (tmp_path / "hi.tsv").write_text("# brands\nSBI\tएस बी आई\n\nISRO\tइसरो\n", encoding="utf-8")
    (tmp_path / "ta.json").write_text('{"ISRO": "இஸ்ரோ"}', encoding="utf-8")
    (tmp_path / "README.md").write_text("not a lexicon", encoding="utf-8")
    lexicons = load_lexicons(tmp_path)
    assert len(lexicons) == 2
    assert normalize_text("ISRO और SBI", "hi", (None, lexicons.get("hi"))) == "इसरो और एस बी आई"
    assert normalize_text("ISRO", "ta", (lexicons.get("ta"),)) == "இஸ்ரோ"
    assert lexicons.get("hi-IN") is lexicons.get("hi") and lexicons.get("bn") is None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("hi.tsv", "SBI\tएस बी आई\nISRO इसरो\n", r"hi.tsv:2: expected 'word<TAB>spoken form'"),
        ("hi.tsv", "SBI\tएक\nSBI\tदो\n", r"hi.tsv:2: 'SBI' is listed twice"),
        ("hi.tsv", "SBI\t \n", r"hi.tsv:1: expected"),
        ("hi.json", '{"SBI": ', r"hi.json: not valid JSON"),
        ("hi.json", '["SBI"]', r"hi.json: expected one JSON object"),
        ("xx.tsv", "SBI\tएस\n", r"xx.tsv: 'xx' is not a language code"),
    ],
)
def test_a_malformed_operator_file_is_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        load_lexicons(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    assert len(load_lexicons(None)) == 0
    with pytest.raises(LexiconError, match="is not a folder"):
        load_lexicons(tmp_path / "absent")
