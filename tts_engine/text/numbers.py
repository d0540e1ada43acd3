"""English number words (cardinals, ordinals, years, digit strings). Written for TTS, not locale-complete.

`cardinal` groups the Western way (thousand, million); `indian_cardinal` the Indian way (thousand,
lakh, crore), as Indian English reads 1,25,000 ("one lakh twenty-five thousand").
"""

from __future__ import annotations

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [
    (10**12, "trillion"),
    (10**9, "billion"),
    (10**6, "million"),
    (1000, "thousand"),
]
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    words: list[str] = []
    if n >= 100:
        words.append(f"{_ONES[n // 100]} hundred")
        n %= 100
    if n >= 20:
        tens = _TENS[n // 10]
        words.append(f"{tens}-{_ONES[n % 10]}" if n % 10 else tens)
    elif n or not words:
        words.append(_ONES[n])
    return " ".join(words)


def cardinal(n: int) -> str:
    """123456 -> 'one hundred twenty-three thousand four hundred fifty-six'."""
    return _scaled(n, _SCALES, 10**15)


_INDIAN_SCALES = [(10**7, "crore"), (10**5, "lakh"), (1000, "thousand")]
# From here on nobody says a number in lakh and crore: it is read digit by digit (every language).
SPELT_LIMIT = 10**19


def indian_cardinal(n: int) -> str:
    """125000 -> 'one lakh twenty-five thousand'; 1,00,00,00,000 -> 'one hundred crore'."""
    return _scaled(n, _INDIAN_SCALES, SPELT_LIMIT)


def _scaled(n: int, scales: list[tuple[int, str]], too_large: int) -> str:
    """n in words with these scale words (largest first); from `too_large` on, digit by digit: nobody
    says such numbers, so they are read rather than given invented words."""
    if n < 0:
        return "minus " + _scaled(-n, scales, too_large)
    if n >= too_large:
        return digits(str(n))
    words: list[str] = []
    for value, name in scales:
        if n >= value:
            words.append(f"{_scaled(n // value, scales, too_large)} {name}")
            n %= value
    if n or not words:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal(n: int, words: str | None = None) -> str:
    """21 -> 'twenty-first'. `words`: the cardinal already spelt (e.g. the Indian way)."""
    words = words or cardinal(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def year(n: int) -> str:
    """1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five', 2024 -> 'twenty twenty-four'."""
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {cardinal(low)}"
    return f"{cardinal(high)} {cardinal(low)}"


def digits(text: str) -> str:
    """'0142' -> 'zero one four two'."""
    return " ".join(_ONES[int(d)] for d in text if d.isdigit())
