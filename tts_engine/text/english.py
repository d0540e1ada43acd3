"""English-only readings: abbreviations that end with a period, the euro, pound and yen, and the
symbols &, +, =, @ between words. Numbers, rupees and dollars are read by the rules of every
language (rules.py) with English words."""

from __future__ import annotations

import re

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
# Symbol -> (singular unit, plural unit, singular cents, plural cents): currencies only English reads.
CURRENCIES = {
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SYMBOLS = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at "}


def abbreviations(text: str) -> str:
    return _ABBREV_RE.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)


def symbols(text: str) -> str:
    for symbol, words in _SYMBOLS.items():
        text = text.replace(f" {symbol} ", words)
    return text
