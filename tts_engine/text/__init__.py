"""Text handling shared by every backend: normalise once, then split into speakable pieces."""

from __future__ import annotations

from .languages import LANGUAGES, Language, language_for
from .lexicon import Lexicon, LexiconError, Lexicons, lexicon_of, load_lexicons
from .normalize import normalize_text
from .split import split_text

__all__ = [
    "LANGUAGES",
    "Language",
    "Lexicon",
    "LexiconError",
    "Lexicons",
    "language_for",
    "lexicon_of",
    "load_lexicons",
    "normalize_text",
    "split_text",
]
