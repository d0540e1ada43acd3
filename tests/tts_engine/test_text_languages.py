"""Normalisation in every Svara language: the golden readings (tests/data/text_normalization.tsv),
amounts in lakh and crore with no digit left and in the language's own script, words that come from
the language's vocabulary, and the indic-numtowords flaws that tts_engine/text/words.py works round."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from indic_numtowords import num2words

from tts_engine.text import LANGUAGES, normalize_text
from tts_engine.text.dates import month_name
from tts_engine.text.script import segments
from tts_engine.text.words import ablative, cardinal

DATA = Path(__file__).parents[1] / "data" / "text_normalization.tsv"
VOICES = Path(__file__).parents[2] / "tts_engine" / "svara" / "voices.json"
GOLDEN = [
    tuple(line.split("\t"))
    for line in DATA.read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
]
SVARA_LANGUAGES = sorted({v["language"] for v in json.loads(VOICES.read_text())["voices"]})
BLOCKS = {
    "Deva": (0x0900, 0x097F),
    "Beng": (0x0980, 0x09FF),
    "Guru": (0x0A00, 0x0A7F),
    "Gujr": (0x0A80, 0x0AFF),
    "Taml": (0x0B80, 0x0BFF),
    "Telu": (0x0C00, 0x0C7F),
    "Knda": (0x0C80, 0x0CFF),
    "Mlym": (0x0D00, 0x0D7F),
}
# The language's words for lakh and crore (their stems: Telugu says లక్షా, లక్షల, లక్షలు).
LAKH_CRORE = {
    "hi": ("लाख", "करोड़"), "bh": ("लाख", "करोड़"), "mag": ("लाख", "करोड़"), "hne": ("लाख", "करोड़"),
    "mai": ("लाख", "करोड़"), "doi": ("लक्ख", "करोड़"), "brx": ("लाख", "कौटि"), "sa": ("लक्ष", "कोटि"),
    "mr": ("लाख", "कोटी"), "ne": ("लाख", "करोड"), "bn": ("লাখ", "কোটি"), "as": ("লাখ", "কোটি"),
    "gu": ("લાખ", "કરોડ"), "pa": ("ਲੱਖ", "ਕਰੋੜ"), "te": ("లక్ష", "కోట"), "kn": ("ಲಕ್ಷ", "ಕೋಟಿ"),
    "ta": ("லட்ச", "கோடி"), "ml": ("ലക്ഷ", "കോടി"), "en": ("lakh", "crore"),
}
NATIVE_DIGITS = {
    "Deva": "०१२३४५६७८९", "Beng": "০১২৩৪৫৬৭৮৯", "Gujr": "૦૧૨૩૪૫૬૭૮૯", "Guru": "੦੧੨੩੪੫੬੭੮੯",
    "Taml": "௦௧௨௩௪௫௬௭௮௯", "Telu": "౦౧౨౩౪౫౬౭౮౯", "Knda": "೦೧೨೩೪೫೬೭೮೯", "Mlym": "൦൧൨൩൪൫൬൭൮൯",
}


@pytest.mark.parametrize(("language", "written", "read"), GOLDEN, ids=[f"{r[0]}:{r[1]}" for r in GOLDEN])
def test_golden_readings(language: str, written: str, read: str) -> None:
    assert normalize_text(written, language) == read


def test_every_svara_language_is_in_the_table() -> None:
    assert set(SVARA_LANGUAGES) <= set(LANGUAGES)
    assert len(SVARA_LANGUAGES) == 19


def _foreign(reading: str, script: str) -> list[str]:
    """Characters of `reading` that are digits, or letters outside the script's Unicode block."""
    if script == "Latn":
        return [c for c in reading if unicodedata.category(c) == "Nd" or (c.isalpha() and not c.isascii())]
    low, high = BLOCKS[script]
    return [
        c
        for c in reading
        if unicodedata.category(c) == "Nd"
        or (unicodedata.category(c)[0] in "LM" and not low <= ord(c) <= high)
    ]


@pytest.mark.parametrize("language", SVARA_LANGUAGES)
def test_amounts_come_back_in_lakh_and_crore_in_the_languages_own_script(language: str) -> None:
    lang = LANGUAGES[language]
    lakh, crore = LAKH_CRORE[language]
    native = "".join(NATIVE_DIGITS.get(lang.script, "0123456789")[int(d)] for d in "1,25,50,000" if d.isdigit())
    for written in ["₹1,25,50,000", "Rs. 12550000", "INR 1,25,50,000.50", native]:
        reading = normalize_text(written, language)
        assert lakh in reading and crore in reading, (written, reading)
        assert not _foreign(reading, lang.script), (written, reading)
    for written in [
        "₹2,50,00,00,000", "₹5 lakh", "₹2.5 crore", "18%", "3.14", "15/08/2024", "10:30", "9 PM",
        "+91 98765 43210", "10-20", "-5", "2nd", "1,25,00,00,000",
    ]:
        reading = normalize_text(written, language)
        assert reading and not _foreign(reading, lang.script), (written, reading)


def _vocabulary(language: str) -> set[str]:
    """The library's own words for the language (connective forms included), the table's words and
    the month names."""
    lang = LANGUAGES[language]
    numbers = [*range(1000), *(a * 10**7 + a * 10**5 + a * 1000 + a for a in range(1, 100))]
    numbers += [a * 10**k for a in range(1, 100) for k in (3, 5, 7)]
    words = {w for n in numbers for w in cardinal(n, lang).split()}
    for value in vars(lang).values():
        items = value if isinstance(value, tuple) else (value,)
        words |= {w for item in items if isinstance(item, str) for w in re.sub(r"\{\w+\}", " ", item).split()}
    if "{a_abl}" in lang.range:  # Kannada "from N" is the number in the ablative case
        words |= {ablative(w) for w in words}
    return words | {month_name(m, lang.months) for m in range(1, 13)}


@pytest.mark.parametrize("language", ["bn", "mr", "te", "kn", "ml", "gu", "pa", "ta", "as", "ne"])
def test_readings_use_only_the_languages_own_words(language: str) -> None:
    vocabulary = _vocabulary(language)
    rows = [r for r in GOLDEN if r[0] == language and not re.search(r"\d[^\d\s,.:/%-]", r[1])]  # ordinals aside
    assert len(rows) >= 14
    # Endings the table's templates glue to a number: Bengali "{h}টা" (দশটা), Assamese "{a}ৰ পৰা".
    lang = LANGUAGES[language]
    glued = {m for value in vars(lang).values() if isinstance(value, str) for m in re.findall(r"\}([^\s{}]+)", value)}

    def known(word: str) -> bool:
        return word in vocabulary or any(word.endswith(g) and word[: -len(g)] in vocabulary for g in glued)

    for _, written, read in rows:
        unknown = [w for w in re.split(r"[\s,]+", read) if w and not known(w)]
        assert not unknown, (written, read, unknown)


# --- the flaws of indic-numtowords 1.1, and what the reading does instead ----------------------------


def test_more_than_nine_digits_are_spelt_in_crores() -> None:
    assert num2words("1234567890", lang="hi").split()[:3] == ["एक", "दो", "तीन"]  # the library: digit by digit
    hindi = LANGUAGES["hi"]
    assert cardinal(1234567890, hindi) == "एक सौ तेईस करोड़ पैंतालीस लाख सरसठ हज़ार आठ सौ नब्बे"
    assert cardinal(10**12, hindi) == "एक लाख करोड़"
    # The words the library uses after "N crore" are kept: Telugu "కోట్ల", Tamil "கோடியே".
    assert cardinal(1_000_000_005, LANGUAGES["te"]) == "వంద కోట్ల ఐదు"
    assert cardinal(1_000_000_005, LANGUAGES["ta"]) == "நூறு கோடியே ஐந்து"


def test_an_int_never_reaches_the_library() -> None:
    with pytest.raises(TypeError):
        num2words(123, lang="hi", split=True)
    assert normalize_text("+91 98765 43210", "kn").count("ಒಂಬತ್ತು") == 2


def test_no_zero_width_non_joiner_in_tamil() -> None:
    assert "\u200c" in num2words("25000", lang="ta")
    assert "\u200c" not in normalize_text("₹25,000", "ta")
    assert normalize_text("25000", "ta") == "இருபத்து ஐந்தாயிரம்"


def test_no_trailing_connective_in_kannada() -> None:
    assert num2words("125000", lang="kn").endswith("ಸಾವಿರದ")
    assert normalize_text("125000", "kn") == "ಒಂದು ಲಕ್ಷದ ಇಪ್ಪತ್ತೈದು ಸಾವಿರ"
    assert normalize_text("1000", "kn") == "ಒಂದು ಸಾವಿರ"


def test_assamese_is_spelt_with_its_own_ra() -> None:
    assert "র" in num2words("30", lang="as")
    assert normalize_text("30", "as") == "ত্ৰিশ"


# --- scripts in one sentence ---------------------------------------------------------------------------


def test_latin_stretches_stay_english_and_numbers_go_with_their_neighbours() -> None:
    text = "Call 98765 43210 now, कुल ₹500 है, Rs. 50 दीजिए"
    assert [english for english, _ in segments(text)] == [True, False]
    assert normalize_text(text, "hi") == (
        "Call nine eight seven six five, four three two one zero now, कुल पाँच सौ रुपये है, पचास रुपये दीजिए"
    )
    assert normalize_text("मैंने Rs. 5 lakh दिए", "hi") == "मैंने पाँच लाख रुपये दिए"


def test_a_tamil_reading_has_no_devanagari() -> None:
    reading = normalize_text("விலை ₹1,25,000, தேதி 15/08/2024, நேரம் 10:30", "ta")
    assert not _foreign(reading, "Taml"), reading
