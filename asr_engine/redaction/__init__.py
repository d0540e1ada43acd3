"""Redaction of card numbers, national IDs, phone numbers, emails and numbers in transcripts.

A request's options (Smallest's `redact_pii`/`redact_pci`, Deepgram's `redact`) are read by
common.asr_options.categories; `Redactor(categories).result(result)` gives the transcript with text,
words and segments redacted alike. Callers keep only the redacted form.
"""

from __future__ import annotations

from .apply import Redactor

__all__ = ["Redactor"]
