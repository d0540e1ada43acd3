"""Normalisation: the text a voice reads, in the voice's language.

Done once in the gateway before any backend sees the text (backends must not re-normalise), for
every voice and surface alike: Unicode clean-up; the pronunciation lexicons (a request's own,
then the operator's for the language); native digits made ASCII; then the Latin-script stretches
of an Indic sentence read in Indian English and the rest in the voice's language (rules.py).
A language the table does not know gets the clean-up and the lexicons only.
"""

from __future__ import annotations

import re
import unicodedata

from .languages import ENGLISH_INDIA, language_for
from .lexicon import Lexicon, apply_lexicons
from .rules import reader
from .script import ASCII_DIGITS, segments

_INVISIBLE = re.compile(r"[\u200b\ufeff]")  # zero-width space and BOM confuse phonemisers
_SPACES = re.compile(r"\s+")


def normalize_text(text: str, language: str = "en", lexicons: tuple[Lexicon | None, ...] = ()) -> str:
    """Return the text a voice should read. `language` is the voice's language code; `lexicons`
    apply in order, an earlier one winning where two have the same word (the request's first)."""
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()
    text = apply_lexicons(text, lexicons)
    lang = language_for(language)
    if lang is None:
        return text
    text = text.translate(ASCII_DIGITS)
    if lang.script == "Latn":
        text = reader(lang)(text)
    else:
        english, native = reader(ENGLISH_INDIA), reader(lang)
        text = "".join((english if is_english else native)(piece) for is_english, piece in segments(text))
    return unicodedata.normalize("NFC", _SPACES.sub(" ", text).strip())
