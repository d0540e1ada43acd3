"""Phone numbers, digit by digit in the groups they were written in, with "plus" and the country
code: +91 98765 43210, 98765-43210, 9876543210 (a 10-digit mobile number, said as 5 + 5),
022-2345 6789 (a landline with its STD code), 1800-180-1234 (toll-free)."""

from __future__ import annotations

import re

from .languages import Language
from .script import WORD
from .words import digits

PHONE = re.compile(
    rf"(?<![{WORD}+.,/₹$])(?<![₹$] )"
    r"(?:\+(?P<cc>91|\d{1,3})[\s-]?(?P<intl>\d(?:[\s-]?\d){6,12})"
    r"|(?P<num>0?[6-9]\d{4}[\s-]?\d{5}|0\d{2,4}[\s-]\d{3,4}[\s-]?\d{3,4}|1[89]00[\s-]?\d{3}[\s-]?\d{3,4}))"
    rf"(?![{WORD}/]|[.,]\d)"
)


def read_phone(m: re.Match[str], lang: Language) -> str:
    groups = re.split(r"[\s-]", m["intl"] or m["num"])
    if len(groups) == 1 and len(groups[0]) in (10, 11):  # an unbroken mobile number: 5 + 5
        whole = groups[0]
        groups = [whole[:-10], whole[-10:-5], whole[-5:]] if len(whole) == 11 else [whole[:5], whole[5:]]
    parts = [f"{lang.plus} {digits(m['cc'], lang)}"] if m["cc"] else []
    # A comma between groups: the pause a person makes when reading a number out.
    return ", ".join(parts + [digits(g, lang) for g in groups if g])
