"""The reading of one language: its rules in order, each turning what it matches into words, so
that a later rule never sees it again. Phone numbers come first (digit by digit), then dates,
times, money, ranges ("10-20"), percentages, ordinals, and last every other number, with its sign
and decimals. The text has ASCII digits by then (script.ASCII_DIGITS).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import english
from .dates import DATE, read_date, read_time, time_pattern
from .languages import Language
from .money import PERCENT, money_pattern, read_money, read_percent, read_range
from .ordinals import ordinal
from .patterns import NUM, alternation, number, value
from .phone import PHONE, read_phone
from .script import WORD
from .words import cardinal, decimal, year

Rule = tuple[re.Pattern[str], Callable[[re.Match[str], Language], str]]

_RANGE = re.compile(
    rf"(?<![{WORD}.,/:-])(?P<a>{NUM})(?:-|\s?[–—]\s?)(?P<b>{NUM})(?P<pct>\s?%)?(?![{WORD}/:-]|[.,]\d)"
)
_NUMBER = re.compile(
    rf"(?:(?<![{WORD}.,)\]])(?P<neg>[-−])(?=\d))?(?P<num>{NUM})(?:\.(?P<frac>\d+)(?!\.\d))?"
)
_YEAR_CONTEXT = re.compile(r"\b(in|since|by|from|until|of|year|during|before|after)\s$", re.IGNORECASE)


def _read_range(m: re.Match[str], lang: Language) -> str:
    a, b = m["a"], m["b"]
    if len(a) == 4 and len(b) == 2 and 1000 <= int(a) <= 2999:  # 2023-24: a financial year
        said = f"{year(int(a), lang)} {cardinal(int(b), lang)}"
    else:
        said = read_range(number(a, lang), number(b, lang), lang)
    return lang.percent.format(n=said) if m["pct"] else said


def _ordinal_pattern(lang: Language) -> re.Pattern[str]:
    latin = [s for s in lang.ordinal_suffixes if s.isascii()]
    native = [s for s in lang.ordinal_suffixes if not s.isascii()]
    suffixes = f"(?i:{alternation(latin)})" + (f"|{alternation(native)}" if native else "")
    return re.compile(rf"(?<![{WORD}.,])(?P<num>\d+)(?P<suffix>{suffixes})(?![{WORD}])")


def _read_ordinal(m: re.Match[str], lang: Language) -> str:
    form = lang.ordinal_suffixes.get(m["suffix"]) or lang.ordinal_suffixes.get(m["suffix"].lower(), "m")
    return ordinal(int(m["num"]), lang, form)


def _read_number(m: re.Match[str], lang: Language) -> str:
    raw = m["num"]
    whole, indian = value(raw)
    if m["frac"]:
        said = decimal(whole, m["frac"], lang, indian)
    elif lang.numbers == "en" and _is_year(m, raw, whole):
        said = year(whole, lang)
    else:
        said = number(raw, lang)
    return f"{lang.minus} {said}" if m["neg"] else said


def _is_year(m: re.Match[str], raw: str, whole: int) -> bool:
    """English reads 1999 as "nineteen ninety-nine" when it is plainly a year."""
    if len(raw) != 4 or not 1100 <= whole <= 2099 or m["neg"]:
        return False
    return whole >= 1900 or bool(_YEAR_CONTEXT.search(m.string[: m.start()]))


class Reader:
    """Turns the numbers, amounts, dates and times of a text into the words of one language."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self.rules: list[Rule] = [
            (PHONE, read_phone),
            (DATE, read_date),
            (time_pattern(lang), read_time),
            (money_pattern(lang), read_money),
            (_RANGE, _read_range),  # before percent: "10-20%" is one range
            (PERCENT, read_percent),
            (_ordinal_pattern(lang), _read_ordinal),
            (_NUMBER, _read_number),
        ]

    def __call__(self, text: str) -> str:
        english_text = self.lang.numbers == "en"
        if english_text:
            text = english.abbreviations(text)
        for pattern, read in self.rules:
            if not any(c.isdigit() for c in text):
                break
            text = pattern.sub(lambda m, read=read: read(m, self.lang), text)  # type: ignore[misc]
        return english.symbols(text) if english_text else text


_READERS: dict[str, Reader] = {}


def reader(lang: Language) -> Reader:
    """The language's reader, built once (its patterns are compiled then)."""
    if lang.code not in _READERS:
        _READERS[lang.code] = Reader(lang)
    return _READERS[lang.code]
