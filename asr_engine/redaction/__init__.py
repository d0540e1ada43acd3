"""Redaction of card numbers, national IDs, phone numbers, emails and numbers in transcripts.

`categories(...)` reads a request's options (Smallest's `redact_pii`/`redact_pci`, Deepgram's
`redact`); `Redactor(categories).result(result)` gives the transcript with text, words and segments
redacted alike. Callers keep only the redacted form.
"""

from __future__ import annotations

from .apply import Redactor
from .options import PII, REDACT_PII, Category, categories

__all__ = ["PII", "REDACT_PII", "Category", "Redactor", "categories"]
