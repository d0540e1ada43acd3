"""Scripts in a sentence: native digits made ASCII, and the Latin-script stretches of an Indic
sentence found, so that they are read in (Indian) English while the rest is read in the voice's
language.

A word with Latin letters is English; a word with other letters is the voice's language; a word
with no letters (a number, an amount, a time) belongs to its neighbours: English only when the
words on both sides of it are English. So "Call 98765 43210 now" stays English inside a Hindi
text, while "कुल ₹500 है" and "Rs. 500 दीजिए" are Hindi. A few Latin marks count as no letters at
all, because they belong to the number next to them: Rs, INR, lakh, crore, AM/PM and the ordinal
endings st/nd/rd/th.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Word characters, Indic vowel signs and viramas included (Python's \w leaves those out); the
# dandas (।, ॥) are punctuation.
WORD = r"\w\u0900-\u0963\u0966-\u0DFF\u200c\u200d"


def _native_digits() -> dict[int, str]:
    """Every decimal digit of the Basic Multilingual Plane that is not ASCII (०-९, ০-৯, ௦-௯, ...)
    -> its ASCII digit."""
    table = {}
    for code in range(0x80, 0x10000):
        char = chr(code)
        if unicodedata.category(char) == "Nd":
            table[code] = str(unicodedata.decimal(char))
    return table


ASCII_DIGITS = _native_digits()

_TOKEN = re.compile(r"\S+")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_OTHER_LETTER = re.compile(r"[^\W\dA-Za-z\u00c0-\u024f_]|[\u0900-\u0DFF]")
# Latin marks read with the number next to them; the short ones only when glued to digits ("5L", "2nd").
_NUMBER_MARKS = {"rs", "inr", "usd", "lakh", "lakhs", "lac", "lacs", "crore", "crores", "cr", "am", "pm"}
_GLUED_MARKS = {"st", "nd", "rd", "th", "k", "l"}


def _kind(token: str) -> str:
    """'L' (English), 'N' (native), or '' (no letters: goes with its neighbours)."""
    if _OTHER_LETTER.search(token):
        return "N"
    if not _LATIN.search(token):
        return ""
    letters = re.sub(r"[^A-Za-z]", "", token).lower()
    if letters in _NUMBER_MARKS or (letters in _GLUED_MARKS and any(c.isdigit() for c in token)):
        return ""
    return "L"


def segments(text: str) -> Iterator[tuple[bool, str]]:
    """(is_english, piece) in order; joining the pieces gives back `text`."""
    if not _LATIN.search(text):
        yield False, text
        return
    tokens = [(m.start(), m.end(), _kind(m.group())) for m in _TOKEN.finditer(text)]
    kinds = [kind for _, _, kind in tokens]
    # Letterless tokens: English only when the nearest words on both sides are English (or the text ends).
    left: list[str] = []
    last = ""
    for kind in kinds:
        left.append(last)
        last = kind or last
    right: list[str] = []
    last = ""
    for kind in reversed(kinds):
        right.append(last)
        last = kind or last
    right.reverse()
    english = [
        kind == "L" or (not kind and bool(left[i] or right[i]) and {left[i], right[i]} <= {"L", ""})
        for i, kind in enumerate(kinds)
    ]
    start = 0
    for i in range(1, len(tokens) + 1):
        if i == len(tokens) or english[i] != english[start]:
            end = tokens[i][0] if i < len(tokens) else len(text)
            begin = 0 if start == 0 else tokens[start][0]
            yield english[start], text[begin:end]
            start = i
