"""Regular-expression pieces shared by the rules, and how a written number is read back."""

from __future__ import annotations

import re

from .languages import Language
from .words import cardinal, digits

# 1,25,000 (Indian), 125,000 (Western) or 125000. Text reaching the rules has ASCII digits only.
NUM = r"(?:\d{1,3}(?:(?:,\d{2})+,\d{3}|(?:,\d{3})+)(?!\d)|\d+)"


def value(raw: str) -> tuple[int, bool | None]:
    """A written number and its grouping: True for Indian commas (1,25,000), False for Western
    ones (125,000), None for none."""
    groups = raw.split(",")
    if len(groups) == 1:
        return int(raw), None
    return int("".join(groups)), any(len(g) == 2 for g in groups[1:])


def number(raw: str, lang: Language) -> str:
    """A written whole number in words; "007" and other numbers with a leading zero digit by digit."""
    if len(raw) > 1 and raw[0] == "0" and "," not in raw:
        return digits(raw, lang)
    amount, indian = value(raw)
    return cardinal(amount, lang, indian)


def alternation(words: list[str] | set[str] | tuple[str, ...]) -> str:
    """A regex alternative of literal words, longest first (so "lakhs" wins over "lakh")."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
