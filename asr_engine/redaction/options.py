"""Which redactions a request asks for, from either API's spelling.

- Smallest: `redact_pii=true` (phone numbers, emails, national IDs; card numbers too, since a caller
  who asks for PII redaction does not expect a card number to survive) and `redact_pci=true` (cards).
- Deepgram: `redact=pci,ssn,numbers` (comma-separated, or the parameter repeated); `pii` is the
  identifier group, `true` means `numbers` as in Deepgram, `false` nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from asr_engine.request_errors import InvalidOption


class Category(StrEnum):
    PCI = "pci"  # payment card numbers (13-19 digits, Luhn-checked)
    SSN = "ssn"  # US social security numbers
    AADHAAR = "aadhaar"  # Indian Aadhaar numbers (12 digits, Verhoeff-checked)
    PHONE = "phone"  # phone numbers valid for PHONE_REGIONS, or international with a country code
    EMAIL = "email"
    NUMBERS = "numbers"  # any run of three or more digits (Deepgram's `numbers`)


PII = frozenset({Category.SSN, Category.AADHAAR, Category.PHONE, Category.EMAIL})
REDACT_PII = PII | {Category.PCI}
_GROUPS: dict[str, frozenset[Category]] = {
    **{c.value: frozenset({c}) for c in Category},
    "pii": PII,
    "true": frozenset({Category.NUMBERS}),
    "false": frozenset(),
}


def categories(
    *, redact_pii: bool = False, redact_pci: bool = False, redact: str | Iterable[str] | None = None
) -> frozenset[Category]:
    """The categories to redact; an unknown name is an error that lists the known ones."""
    chosen: set[Category] = set()
    if redact_pii:
        chosen |= REDACT_PII
    if redact_pci:
        chosen.add(Category.PCI)
    names = [redact] if isinstance(redact, str) else list(redact or [])
    for name in (part.strip().lower() for item in names for part in item.split(",")):
        if not name:
            continue
        if name not in _GROUPS:
            known = ", ".join(_GROUPS)
            raise InvalidOption("redact", f"unknown redaction {name!r}: use one or more of {known}")
        chosen |= _GROUPS[name]
    return frozenset(chosen)
