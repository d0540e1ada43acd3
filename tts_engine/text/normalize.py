"""Normalisation a listener expects: say numbers, currency and common abbreviations as words.

Done once in the gateway before any backend sees the text (backends must not re-normalise), so
every voice reads "$5" the same way. Only English has word rules today; other languages get
Unicode/whitespace clean-up and keep their digits (Svara reads native numerals itself).
"""

from __future__ import annotations

import re
import unicodedata

from .numbers import cardinal, digits, ordinal, year

# Abbreviations that end with a period the sentence splitter must not mistake for a full stop.
_ABBREVIATIONS = {
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "Dr.": "Doctor",
    "Prof.": "Professor",
    "Sr.": "Senior",
    "Jr.": "Junior",
    "St.": "Saint",
    "Mt.": "Mount",
    "Gen.": "General",
    "Capt.": "Captain",
    "Lt.": "Lieutenant",
    "Sgt.": "Sergeant",
    "Rev.": "Reverend",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
    "dept.": "department",
    "No.": "number",
    "Inc.": "Incorporated",
    "Ltd.": "Limited",
    "Co.": "Company",
    "Corp.": "Corporation",
    "Ave.": "Avenue",
    "Jan.": "January",
    "Feb.": "February",
    "Aug.": "August",
    "Sept.": "September",
    "Oct.": "October",
    "Nov.": "November",
    "Dec.": "December",
}
_ABBREV_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")"
    r"(?=\s|$)"
)
# Symbol -> (singular unit, plural unit, singular cents, plural cents)
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "₹": ("rupee", "rupees", "paisa", "paise"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SCALE_WORDS = "thousand|million|billion|trillion"
_MONEY_RE = re.compile(
    r"(?P<sym>[$€£₹¥])\s?(?P<num>\d[\d,]*)(?:\.(?P<frac>\d{1,2}))?(?!\d)(?:\s(?P<scale>"
    + _SCALE_WORDS
    + r"))?"
)
_PERCENT_RE = re.compile(r"(?P<num>\d[\d,]*(?:\.\d+)?)\s?%")
_ORDINAL_RE = re.compile(r"\b(?P<num>\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"(?<![\d.])(?P<int>\d[\d,]*)\.(?P<frac>\d+)(?![\d.])")
_NUMBER_RE = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])|\d+")
_YEAR_CONTEXT_RE = re.compile(r"\b(in|since|by|from|until|of|year|during|before|after)\s$", re.IGNORECASE)
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at "}


def normalize_text(text: str, language: str = "en") -> str:
    """Return the text a voice should read. `language` is the voice's language code."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[\u200b\ufeff]", "", text)  # zero-width characters confuse phonemisers
    text = re.sub(r"\s+", " ", text).strip()
    if language.lower().startswith("en"):
        text = _english(text)
    return text


def _english(text: str) -> str:
    text = _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)
    text = _MONEY_RE.sub(_money, text)
    text = _PERCENT_RE.sub(lambda m: f"{_number_words(m.group('num'))} percent", text)
    text = _ORDINAL_RE.sub(lambda m: ordinal(int(m.group("num"))), text)
    text = _DECIMAL_RE.sub(
        lambda m: f"{cardinal(_int(m.group('int')))} point {digits(m.group('frac'))}", text
    )
    text = _NUMBER_RE.sub(_plain_number, text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(f" {symbol} ", words)
    return re.sub(r"\s+", " ", text).strip()


def _int(raw: str) -> int:
    return int(raw.replace(",", ""))


def _number_words(raw: str) -> str:
    whole, _, frac = raw.partition(".")
    words = cardinal(_int(whole))
    return f"{words} point {digits(frac)}" if frac else words


def _money(m: re.Match[str]) -> str:
    unit, units, cent, cents = _CURRENCIES[m.group("sym")]
    amount = _int(m.group("num"))
    scale = m.group("scale")
    frac = m.group("frac")
    if scale:  # "$2.5 million" -> "two point five million dollars"
        number = f"{cardinal(amount)} point {digits(frac)}" if frac else cardinal(amount)
        return f"{number} {scale} {units}"
    words = f"{cardinal(amount)} {unit if amount == 1 else units}"
    if frac:
        sub = int(frac.ljust(2, "0"))
        if sub:
            part = f"{cardinal(sub)} {cent if sub == 1 else cents}"
            words = part if amount == 0 else f"{words} and {part}"
    return words


def _plain_number(m: re.Match[str]) -> str:
    raw = m.group(0)
    if "," not in raw and len(raw) > 1 and raw.startswith("0"):
        return digits(raw)  # "007", zip codes: digit by digit
    value = _int(raw)
    before = m.string[: m.start()]
    if (
        "," not in raw
        and len(raw) == 4
        and 1100 <= value <= 2099
        and (_YEAR_CONTEXT_RE.search(before) or value >= 1900)
    ):
        return year(value)
    return cardinal(value)
