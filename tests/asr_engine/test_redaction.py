"""Redaction of card numbers, national IDs, phones, emails and numbers, as Whisper writes them."""

from __future__ import annotations

import json
import re

import pytest
from faster_whisper import WhisperModel

from asr_engine.redaction import Redactor
from asr_engine.transcriber import Options, transcribe
from common.asr_options import PII, REDACT_PII, Category, InvalidOption, categories
from common.pcm import pcm16_to_float
from tests.support.asr import piper_speech

PII_ALL = Redactor(REDACT_PII)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cards (Luhn-valid test numbers), written as Whisper writes them and spoken digit by digit
        ("My card is 4111 1111 1111 1111, thanks.", "My card is [CARD_NUMBER_1], thanks."),
        ("It's 4242-4242-4242-4242", "It's [CARD_NUMBER_1]"),
        ("four one one one one one one one one one one one one one one one.", "[CARD_NUMBER_1]."),
        ("forty one eleven, eleven eleven, eleven eleven, eleven eleven ok", "[CARD_NUMBER_1] ok"),
        ("five five five five, five five five five, five five five five, four four four four", "[CARD_NUMBER_1]"),
        # a card and its expiry in one breath: the card at the start of the run is still found
        ("4111 1111 1111 1111 1225 please", "[CARD_NUMBER_1] 1225 please"),
        # national IDs
        ("SSN 123-45-6789.", "SSN [SSN_1]."),
        ("my social is one two three four five six seven eight nine", "my social is [SSN_1]"),
        ("Aadhaar 2341 2341 2346", "Aadhaar [AADHAAR_1]"),
        # phones: written, spoken, with "oh" for zero and "double"
        ("Call me at (415) 555-0132 tomorrow.", "Call me at [PHONE_NUMBER_1] tomorrow."),
        ("call nine eight seven six five four three two one oh", "call [PHONE_NUMBER_1]"),
        ("four one five, five five five, oh one three two", "[PHONE_NUMBER_1]"),
        ("plus four four two oh seven nine four six oh nine five eight", "[PHONE_NUMBER_1]"),
        ("it is four one five double five five oh one three two", "it is [PHONE_NUMBER_1]"),
        # emails, written and spoken
        ("Email john.smith@example.com please", "Email [EMAIL_1] please"),
        ("it's john dot smith at example dot com okay", "it's [EMAIL_1] okay"),
    ],
)
def test_what_is_found(text: str, expected: str) -> None:
    assert Redactor(REDACT_PII).text(text) == expected


@pytest.mark.parametrize(
    ("wanted", "text"),
    [
        ("pci", "card 4111 1111 1111 1112 ok"),  # 16 digits, but not Luhn-valid: no card
        ("pci", "four one one one one one one one one one one one one one one two"),
        ("pci", "Call me at (415) 555-0132"),  # a phone is no card
        ("ssn", "Call me at 415 555 0132"),  # nor an SSN (10 digits)
        ("ssn", "SSN 000-12-3456"),  # area 000 is never issued
        ("aadhaar", "2341 2341 2347"),  # Verhoeff check digit wrong
        ("numbers", "I have two dogs and 3 cats."),  # fewer than three digits
        ("pii", "we met at the station at nine"),  # "at" without an address
        ("pii", "I was born in nineteen eighty four"),  # a year is no phone
    ],
)
def test_what_is_left(wanted: str, text: str) -> None:
    assert Redactor(categories(redact=wanted)).text(text) == text


def test_numbers_masks_every_run_of_three_digits_or_more() -> None:
    redactor = Redactor(categories(redact="numbers"))
    assert redactor.text("room 101 and 12 chairs") == "room [NUMBER_1] and 12 chairs"
    assert redactor.text("seven hundred and twelve people") == "[NUMBER_2] people"
    assert redactor.text("room 101 again") == "room [NUMBER_1] again"  # one value, one placeholder


def test_request_options_of_both_apis() -> None:
    assert categories(redact_pii=True) == REDACT_PII == PII | {Category.PCI}
    assert categories(redact_pci=True) == {Category.PCI}
    assert categories(redact="pci,ssn,numbers") == {Category.PCI, Category.SSN, Category.NUMBERS}
    assert categories(redact=["pci", "SSN"]) == {Category.PCI, Category.SSN}  # the parameter repeated
    assert categories(redact="pii") == PII
    assert categories(redact="true") == {Category.NUMBERS}  # Deepgram: true means numbers
    assert categories(redact="false") == categories() == frozenset()
    with pytest.raises(InvalidOption, match=r"unknown redaction 'cards': use one or more of pci, ssn") as caught:
        categories(redact="pci,cards")
    assert caught.value.param == "redact"


def _words(text: str) -> list[dict[str, object]]:
    return [{"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4, "confidence": 0.9} for i, w in enumerate(text.split())]


def test_words_keep_their_timings_and_each_takes_the_placeholder() -> None:
    words = _words("my card is four one one one, one one one one, one one one one, one one one one. Bye")
    redacted = Redactor(REDACT_PII).words(words)
    assert [w["word"] for w in redacted[:3]] == ["my", "card", "is"]
    assert [w["word"] for w in redacted[3:19]] == ["[CARD_NUMBER_1]"] * 3 + ["[CARD_NUMBER_1],"] + (
        ["[CARD_NUMBER_1]"] * 3 + ["[CARD_NUMBER_1],"]
    ) * 2 + ["[CARD_NUMBER_1]"] * 3 + ["[CARD_NUMBER_1]."]
    assert redacted[-1]["word"] == "Bye"
    assert [(w["start"], w["end"]) for w in redacted] == [(w["start"], w["end"]) for w in words]


def test_a_result_is_redacted_alike_in_text_words_and_segments() -> None:
    result = {
        "text": "My card is 4111 1111 1111 1111. And my phone is 415 555 0132.",
        "language": "en",
        "segments": [
            {"id": 0, "start": 0.0, "end": 3.0, "text": "My card is 4111 1111", "tokens": [50364, 1222]},
            {"id": 1, "start": 3.0, "end": 5.0, "text": "1111 1111.", "tokens": [50514, 2009]},
            {"id": 2, "start": 5.0, "end": 8.0, "text": "And my phone is 415 555 0132.", "tokens": [50614, 400]},
        ],
        "words": _words("My card is 4111 1111 1111 1111. And my phone is 415 555 0132."),
    }
    redacted = Redactor(REDACT_PII).result(result)
    assert redacted["text"] == "My card is [CARD_NUMBER_1]. And my phone is [PHONE_NUMBER_1]."
    assert [s["text"] for s in redacted["segments"]] == [
        "My card is [CARD_NUMBER_1].",  # written once, where the number starts
        "",
        "And my phone is [PHONE_NUMBER_1].",
    ]
    assert all(s["tokens"] == [] for s in redacted["segments"])  # token ids would spell the number
    assert not re.search(r"\d{3}", json.dumps({k: redacted[k] for k in ("text", "segments")}))
    assert not any(re.search(r"\d", re.sub(r"\[[A-Z_]+_\d+\]", "", str(w["word"]))) for w in redacted["words"])
    assert result["text"].startswith("My card is 4111")  # the input is not modified


def test_partials_mask_a_number_still_being_spoken() -> None:
    redactor = Redactor(categories(redact="pci"))
    assert redactor.text("my card is four one one one one one", partial=True) == "my card is [REDACTED]"
    assert redactor.text("my card is four one one one one one") == "my card is four one one one one one"
    assert Redactor(categories(redact="email")).text("call 4111 1111", partial=True) == "call 4111 1111"


@pytest.mark.slow
def test_a_spoken_card_number_leaves_the_transcript(tiny_en: WhisperModel) -> None:
    """Real Piper speech, real tiny.en with word timestamps. The card (Luhn-valid, made up) is read in
    pairs, which tiny.en writes back as digits ("4716, 2639, …" or "47-16, 26-39, …")."""
    card = "4716263951468637"
    said = (
        "My card number is forty seven sixteen, twenty six thirty nine, fifty one forty six, eighty six thirty seven."
    )
    audio = pcm16_to_float(piper_speech([said]).pcm16k())
    result = transcribe(tiny_en, None, audio, Options(word_timestamps=True, beam_size=5))
    assert re.sub(r"\D", "", result["text"]) == card  # tiny.en heard it: the redaction has work to do
    redacted = Redactor(categories(redact_pii=True)).result(result)
    assert redacted["text"].startswith("My card number is [CARD_NUMBER_1]")
    assert [w["word"] for w in redacted["words"]][:4] == ["My", "card", "number", "is"]
    assert all(w["word"].startswith("[CARD_NUMBER_1]") for w in redacted["words"][4:])
    assert len(redacted["words"]) == len(result["words"])
    said_back = [redacted["text"], *(s["text"] for s in redacted["segments"]), *(w["word"] for w in redacted["words"])]
    assert not any(re.search(r"\d", text.replace("[CARD_NUMBER_1]", "")) for text in said_back)
    assert all(seg["tokens"] == [] for seg in redacted["segments"])
