"""Money and percentages.

Amounts: ₹, Rs., INR and the native abbreviations (रु., ரூ., ...) for rupees; $, US$, USD for
dollars (and, in English only, €, £, ¥); paise after the point ("₹10.50": ten rupees fifty paise);
a scale after the amount, in English or in the language ("₹5 lakh", "₹2.5 करोड़", "Rs 50K"), read
before the currency, with "ढाई" and "साढ़े" for halves in the languages that say them; a range of
amounts ("₹500-1,000"); the "/-" of Indian price tags.
"""

from __future__ import annotations

import re

from . import english
from .languages import Language
from .patterns import NUM, alternation, number, value
from .script import WORD
from .words import ablative, before_noun, cardinal, decimal, scale_word

RUPEE = ["₹", "Rs.", "Rs", "INR", "रु.", "रु", "रू.", "रू", "ரூ.", "ரூ", "రూ.", "ರೂ.", "രൂ.", "રૂ.", "ਰੁ."]
_DOLLAR = ["$", "US$", "USD"]
_LATIN_SCALES = {
    "thousand": 1000,
    "k": 1000,
    "lakh": 10**5,
    "lakhs": 10**5,
    "lac": 10**5,
    "lacs": 10**5,
    "l": 10**5,
    "crore": 10**7,
    "crores": 10**7,
    "cr": 10**7,
}
_WESTERN_SCALES = ["million", "billion", "trillion"]  # English only: Indian languages count in lakh and crore


def _native_scales(lang: Language) -> list[str]:
    if lang.numbers == "en":
        return []
    found = {scale_word(s, lang, one) for s in (1000, 10**5, 10**7) for one in (True, False)}
    if lang.script == "Deva":
        found |= {"हजार", "हज़ार", "करोड", "करोड़"}
    return sorted(found)


def money_pattern(lang: Language) -> re.Pattern[str]:
    marks = RUPEE + _DOLLAR + (list(english.CURRENCIES) if lang.numbers == "en" else [])
    latin = list(_LATIN_SCALES) + (_WESTERN_SCALES if lang.numbers == "en" else [])
    scales = f"(?i:{alternation(latin)})"
    native = _native_scales(lang)
    if native:
        scales += "|" + alternation(native)
    amount = rf"(?P<num>{NUM})(?:\.(?P<frac>\d+))?"
    second = rf"(?:\s?[-–]\s?(?P<num2>{NUM})(?:\.(?P<frac2>\d+))?)?"
    return re.compile(
        rf"(?<![{WORD}])(?P<cur>{alternation(marks)})\s?{amount}{second}"
        rf"(?:\s?(?P<scale>{scales})(?![{WORD}]))?(?:/-)?"
    )


def _units(mark: str, lang: Language) -> tuple[tuple[str, str], tuple[str, str]] | None:
    if mark in RUPEE:
        return lang.rupee, lang.paisa
    if mark in _DOLLAR:
        return lang.dollar, lang.cent
    if lang.numbers == "en" and mark in english.CURRENCIES:
        one, many, sub_one, sub_many = english.CURRENCIES[mark]
        return (one, many), (sub_one, sub_many)
    return None


def _amount(raw: str, fraction: str | None, lang: Language, scaled: bool) -> str:
    if not fraction:
        return number(raw, lang)
    whole, indian = value(raw)
    if scaled and lang.quarters and fraction == "5" and whole:  # ढाई लाख, साढ़े तीन करोड़
        if whole <= 2:
            return lang.quarters[2 + whole]
        return f"{lang.quarters[1]} {cardinal(whole, lang, indian)}"
    return decimal(whole, fraction, lang, indian)


def read_range(a: str, b: str, lang: Language) -> str:
    return lang.range.format(a=a, b=b, a_abl=ablative(a))


def read_money(m: re.Match[str], lang: Language) -> str:
    units = _units(m["cur"], lang)
    if units is None:
        return m.group(0)
    (one, many), (sub_one, sub_many) = units
    scale = m["scale"]
    amount = _amount(m["num"], m["frac"], lang, bool(scale))
    if m["num2"]:
        amount = read_range(amount, _amount(m["num2"], m["frac2"], lang, bool(scale)), lang)
    if scale:
        said = scale
        if scale.lower() in _LATIN_SCALES:
            size = _LATIN_SCALES[scale.lower()]
            said = scale_word(size, lang, one=m["num"] == "1" and not m["frac"] and not m["num2"])
        elif lang.numbers == "en":
            said = scale.lower()
        return f"{before_noun(f'{amount} {said}', lang)} {many}"
    whole, indian = value(m["num"])
    fraction = m["frac"] or ""
    if m["num2"] or len(fraction) > 2:
        return f"{before_noun(amount, lang)} {many}"
    main = f"{before_noun(cardinal(whole, lang, indian), lang)} {one if whole == 1 else many}"
    sub = int(fraction.ljust(2, "0")) if fraction else 0
    if not sub:
        return main
    part = f"{before_noun(cardinal(sub, lang), lang)} {sub_one if sub == 1 else sub_many}"
    return part if whole == 0 else f"{main}{lang.money_join}{part}"


PERCENT = re.compile(rf"(?<![{WORD}.,])(?P<neg>[-−])?(?P<num>{NUM})(?:\.(?P<frac>\d+))?\s?%")


def read_percent(m: re.Match[str], lang: Language) -> str:
    whole, indian = value(m["num"])
    said = decimal(whole, m["frac"], lang, indian) if m["frac"] else number(m["num"], lang)
    if m["neg"]:
        said = f"{lang.minus} {said}"
    return lang.percent.format(n=said)
