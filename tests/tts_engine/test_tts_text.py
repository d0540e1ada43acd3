"""Text handling: normalisation (English) and sentence splitting for any script."""

from __future__ import annotations

import re

import pytest

from app.sessions.speech_socket import SentenceBuffer
from tts_engine.text import normalize_text, split_text
from tts_engine.text.numbers import cardinal, ordinal, year
from tts_engine.text.split import split_sentences


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("$5", "five dollars"),
        ("$1,234.50", "one thousand two hundred thirty-four dollars and fifty cents"),
        ("$0.05", "five cents"),
        ("£1", "one pound"),
        ("€2.5 million", "two point five million euros"),
        ("₹100", "one hundred rupees"),
        ("15%", "fifteen percent"),
        ("the 21st", "the twenty-first"),
        ("3.14", "three point one four"),
        ("in 1999", "in nineteen ninety-nine"),
        ("in 2024", "in twenty twenty-four"),
        ("agent 007", "agent zero zero seven"),
        ("1,000,000 people", "one million people"),
        ("Dr. Smith vs. Mr. Jones", "Doctor Smith versus Mister Jones"),
        ("salt & pepper", "salt and pepper"),
        ("  spaced\n\tout  ", "spaced out"),
    ],
)
def test_english_normalisation(raw: str, spoken: str) -> None:
    assert normalize_text(raw, "en-US") == spoken


def test_a_language_outside_the_table_keeps_its_digits() -> None:
    assert normalize_text("J'ai  5 livres.", "fr") == "J'ai 5 livres."


def test_number_words() -> None:
    assert cardinal(0) == "zero"
    assert cardinal(101) == "one hundred one"
    assert cardinal(-12) == "minus twelve"
    assert ordinal(12) == "twelfth" and ordinal(100) == "one hundredth" and ordinal(30) == "thirtieth"
    assert year(1905) == "nineteen oh five" and year(2000) == "two thousand"


def _words(text: str) -> list[str]:
    return text.split()


def test_split_latin_devanagari_and_cjk() -> None:
    text = 'Hello there. Is it you? Yes! "Quoted." नमस्ते दुनिया। यह दूसरा वाक्य है॥ 你好。世界！ tail'
    assert split_sentences(text) == [
        "Hello there.",
        "Is it you?",
        "Yes!",
        '"Quoted."',
        "नमस्ते दुनिया।",
        "यह दूसरा वाक्य है॥",
        "你好。",
        "世界！",
        "tail",
    ]


def test_split_keeps_abbreviations_and_initials_together() -> None:
    assert split_sentences("Dr. Smith met J. R. Tolkien. Then he left.") == [
        "Dr. Smith met J. R. Tolkien.",
        "Then he left.",
    ]


def test_split_keeps_rupee_abbreviations_with_their_amount() -> None:
    assert split_sentences("कुल Rs. 500 है। फिर रु. 20 दिए।") == ["कुल Rs. 500 है।", "फिर रु. 20 दिए।"]


def test_first_piece_is_short_and_nothing_is_dropped() -> None:
    sentence = "This opening sentence is long, with a clause or two, and then keeps going for a while longer"
    text = f"{sentence}. " + " ".join(f"Sentence number {i} ends here." for i in range(50))
    text += " " + "x" * 700  # one absurd "word" still arrives, cut hard
    pieces = split_text(text, first_max_chars=40, max_chars=120)
    assert len(pieces[0]) <= 40
    assert all(len(p) <= 120 for p in pieces)
    assert _words(" ".join(pieces)).count("Sentence") == 50
    assert re.sub(r"\s+", "", "".join(pieces)) == re.sub(r"\s+", "", text)


def test_sentence_buffer_releases_sentences_once_followed_by_text() -> None:
    buffer = SentenceBuffer()
    assert buffer.add("The price is 3.") == []  # might still become "3.5"
    assert buffer.add("5 dollars. Next") == ["The price is 3.5 dollars."]
    assert buffer.add(" one! And") == ["Next one!"]
    assert buffer.take_all() == "And"
