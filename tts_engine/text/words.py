"""Number words in a language of the table: cardinals, digit strings, decimals, years.

Indic cardinals come from `indic-numtowords`, around four flaws of its 1.1 release (each tested):
- more than 9 digits come back digit by digit: the crores are spelt here, the library's own words
  for "N crore" and for the rest kept (its inflections: Telugu "కోట్ల", Tamil "கோடியே");
- an `int` crashes `split=True` (and long numbers): it is only ever given strings;
- Tamil words may end in a stray ZWNJ (U+200C): removed;
- Kannada numbers ending in thousands or lakhs keep the connective "ದ" ("ಒಂದು ಸಾವಿರದ"): dropped;
- and two found here: Assamese 29-39 are spelt with the Bengali "র" (Assamese writes "ৰ"), and
  Marathi "हज़ार" carries a Hindi nukta: both respelt.
English words are this package's own (numbers.py), grouped the Indian way where the language says so.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from indic_numtowords import num2words

from . import numbers
from .languages import Language

_CRORE = 10**7
_LIBRARY_LIMIT = 10**9  # the library spells up to 9 digits


def _repair(words: str, code: str) -> str:
    words = unicodedata.normalize("NFC", words)  # Telugu "ై" comes decomposed, for one
    if code == "ta":
        words = words.replace("\u200c", "")
    elif code == "kn" and words.endswith("ದ"):
        words = words[:-1]
    elif code == "as":
        words = words.replace("র", "ৰ")
    elif code == "mr":
        words = words.replace("हज़ार", "हजार")  # Marathi spells it without the nukta
    return words.strip()


@lru_cache(maxsize=16384)
def _library(n: int, code: str) -> str:
    return _repair(num2words(str(n), lang=code), code)


@lru_cache(maxsize=4096)
def _crores_tail(rest: int, code: str) -> str:
    """"crore <rest>" as the library says it after a number: taken from its 99 crore + rest."""
    whole, head = _library(99 * _CRORE + rest, code), _library(99, code)
    if whole.startswith(head + " "):
        return whole[len(head) + 1 :]
    # Sanskrit joins the parts into one compound; there the crore is said as a word of its own.
    crore = _library(_CRORE, code).split()[-1]
    return f"{crore} {_library(rest, code)}" if rest else crore


@lru_cache(maxsize=16384)
def _indic(n: int, code: str) -> str:
    if n < _LIBRARY_LIMIT:
        return _library(n, code)
    crores, rest = divmod(n, _CRORE)
    return f"{_indic(crores, code)} {_crores_tail(rest, code)}"


def cardinal(n: int, lang: Language, indian: bool | None = None) -> str:
    """`n` in words. `indian`: how the number was written (True: 1,25,000; False: 125,000; None:
    no commas, the language's own habit). Only English reads the two differently."""
    if n < 0:
        return f"{lang.minus} {cardinal(-n, lang, indian)}"
    if n >= numbers.SPELT_LIMIT:
        return digits(str(n), lang)
    if lang.numbers == "en":
        grouped = lang.indian_grouping if indian is None else indian
        return numbers.indian_cardinal(n) if grouped else numbers.cardinal(n)
    return _indic(n, lang.numbers)


def before_noun(words: str, lang: Language) -> str:
    """A number as it stands before what it counts: Telugu "ఐదు లక్షల రూపాయలు" (not "లక్షలు"),
    Tamil "ஒரு ரூபாய்" (not "ஒன்று")."""
    head, _, last = words.rpartition(" ")
    if last in lang.before_noun:
        return f"{head} {lang.before_noun[last]}".strip()
    return words


def digits(text: str, lang: Language) -> str:
    """'0142' -> one word per digit ("zero one four two")."""
    if lang.numbers == "en":
        return numbers.digits(text)
    return " ".join(_library(int(d), lang.numbers) for d in text if d.isdigit())


def decimal(whole: int, fraction: str, lang: Language, indian: bool | None = None) -> str:
    """3.14 -> "three point one four": the digits after the point one by one."""
    return f"{cardinal(whole, lang, indian)} {lang.point} {digits(fraction, lang)}"


def year(n: int, lang: Language) -> str:
    """A year as it is read: English "nineteen ninety-nine"; Hindi "उन्नीस सौ निन्यानवे" (years
    1100-1999 in the languages that read them in hundreds); otherwise the cardinal."""
    if lang.numbers == "en":
        return numbers.year(n)
    if lang.year_hundreds and 1100 <= n <= 1999:
        high, low = divmod(n, 100)
        rest = cardinal(low, lang) if low else ""
        return lang.year_hundreds.format(h=cardinal(high, lang), l=rest).strip()
    return cardinal(n, lang)


def scale_word(scale: int, lang: Language, one: bool = False) -> str:
    """The word for a thousand, lakh or crore after a number, as the language inflects it there
    (Telugu "లక్షలు" after two, "లక్ష" after one)."""
    if lang.numbers == "en":
        return {1000: "thousand", 10**5: "lakh", 10**7: "crore"}[scale]
    count = 1 if one else 2
    whole, head = _library(count * scale, lang.numbers), _library(count, lang.numbers)
    if whole.startswith(head + " "):
        return whole[len(head) :].strip()
    return _library(scale, lang.numbers).split()[-1]  # Sanskrit compounds: the bare word


def ablative(words: str) -> str:
    """Kannada "from N": ಹತ್ತು -> ಹತ್ತರಿಂದ, ಕೋಟಿ -> ಕೋಟಿಯಿಂದ, ಸಾವಿರ -> ಸಾವಿರದಿಂದ."""
    if words.endswith("ು"):
        return words[:-1] + "ರಿಂದ"
    if words.endswith("ಿ"):
        return words + "ಯಿಂದ"
    return words + "ದಿಂದ"
