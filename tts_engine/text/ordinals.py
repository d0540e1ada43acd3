"""Ordinals ("2nd", "2रा", "5वां", "২য়", "3வது"): the first few are words of their own, the rest
are the cardinal with the language's suffix. Forms: m(asculine, the default), f(eminine),
o(blique/plural) where the language inflects them (Hindi पहला/पहली/पहले), a(djectival, Tamil "-ஆம்").
Languages without a rule here (the `ordinals` field empty) read ordinals as cardinals.
"""

from __future__ import annotations

from collections.abc import Callable

from . import numbers
from .languages import Language
from .words import cardinal


def _inflect(word: str, form: str, endings: dict[str, tuple[str, str]]) -> str:
    """Masculine ending -> (feminine, oblique) ending, e.g. Hindi "ा" -> ("ी", "े")."""
    if form not in ("f", "o"):
        return word
    for masculine, (feminine, oblique) in endings.items():
        if word.endswith(masculine):
            return word[: -len(masculine)] + (feminine if form == "f" else oblique)
    return word


def _suffixed(irregular: dict[int, str], suffix: str, endings: dict[str, tuple[str, str]]):  # type: ignore[no-untyped-def]
    def rule(n: int, words: str, form: str) -> str:
        return _inflect(irregular.get(n) or words + suffix, form, endings)

    return rule


_HINDI_ENDINGS = {"ाँ": ("ीं", "ें"), "ां": ("ीं", "ें"), "ा": ("ी", "े")}
_PUNJABI_ENDINGS = {"ਾਂ": ("ੀਂ", "ੇਂ"), "ਾ": ("ੀ", "ੇ")}

_hindi = _suffixed({1: "पहला", 2: "दूसरा", 3: "तीसरा", 4: "चौथा", 6: "छठा"}, "वाँ", _HINDI_ENDINGS)
_marathi = _suffixed(
    {1: "पहिला", 2: "दुसरा", 3: "तिसरा", 4: "चौथा", 6: "सहावा", 9: "नववा"}, "वा", {"ा": ("ी", "े")}
)
_punjabi = _suffixed({1: "ਪਹਿਲਾ", 2: "ਦੂਜਾ", 3: "ਤੀਜਾ", 4: "ਚੌਥਾ", 6: "ਛੇਵਾਂ"}, "ਵਾਂ", _PUNJABI_ENDINGS)
_gujarati = _suffixed(
    {1: "પહેલો", 2: "બીજો", 3: "ત્રીજો", 4: "ચોથો", 6: "છઠ્ઠો"}, "મો", {"ો": ("ી", "ા")}
)
_bengali = _suffixed(
    dict(enumerate(["", "প্রথম", "দ্বিতীয়", "তৃতীয়", "চতুর্থ", "পঞ্চম", "ষষ্ঠ", "সপ্তম", "অষ্টম", "নবম", "দশম"])),
    "তম",
    {},
)
_assamese = _suffixed(
    dict(enumerate(["", "প্ৰথম", "দ্বিতীয়", "তৃতীয়", "চতুৰ্থ", "পঞ্চম", "ষষ্ঠ", "সপ্তম", "অষ্টম", "নৱম", "দশম"])),
    "তম",
    {},
)

_NEPALI_IRREGULAR = {1: "पहिलो", 2: "दोस्रो", 3: "तेस्रो", 4: "चौथो", 5: "पाँचौं", 6: "छैटौं", 9: "नवौं"}


def _nepali(n: int, words: str, form: str) -> str:
    if n in _NEPALI_IRREGULAR:
        return _inflect(_NEPALI_IRREGULAR[n], form, {"ो": ("ी", "ा")})
    # After a consonant the vowel sign (दसौं), after a vowel the letter (नौ -> not reached: irregular).
    return words + ("ौं" if "\u0915" <= words[-1] <= "\u0939" else "औं")


def _telugu(n: int, words: str, form: str) -> str:
    if n == 1:
        return "మొదటి"
    if words.endswith(("ు", "ి")):  # రెండు -> రెండవ, పది -> పదవ
        words = words[:-1]
    elif words.endswith("ై"):  # ఇరవై -> ఇరవయ్యవ
        words = words[:-1] + "య్య"
    return words + "వ"


def _kannada(n: int, words: str, form: str) -> str:
    if n == 1:
        return "ಮೊದಲನೆಯ"
    return (words[:-1] if words.endswith("ು") else words) + "ನೆಯ"  # ಎರಡು -> ಎರಡನೆಯ


def _tamil(n: int, words: str, form: str) -> str:
    suffix = "ாம்" if form == "a" else "ாவது"  # இரண்டாம் / இரண்டாவது
    if n == 1:
        return "முதல" + suffix
    if words.endswith(("ு", "்")):
        words = words[:-1]
    return words + suffix


def _malayalam(n: int, words: str, form: str) -> str:
    return (words[:-1] if words.endswith(("്", "ം")) else words) + "ാം"  # രണ്ട് -> രണ്ടാം


def _english(n: int, words: str, form: str) -> str:
    return numbers.ordinal(n)


_RULES: dict[str, Callable[[int, str, str], str]] = {
    "hi": _hindi,
    "mr": _marathi,
    "pa": _punjabi,
    "gu": _gujarati,
    "bn": _bengali,
    "as": _assamese,
    "ne": _nepali,
    "te": _telugu,
    "kn": _kannada,
    "ta": _tamil,
    "ml": _malayalam,
    "en": _english,
}


def ordinal(n: int, lang: Language, form: str = "m") -> str:
    words = cardinal(n, lang)
    rule = _RULES.get(lang.ordinals)
    return rule(n, words, form) if rule is not None else words
