"""Sentence splitting for any script, so long text is spoken piece by piece and audio starts early.

Boundaries: Latin/Greek/Cyrillic . ! ? …, the Devanagari danda । and double danda ॥, CJK 。！？,
Arabic ؟ and Urdu ۔. Closing quotes and brackets stay with their sentence. Pieces that are too
long are cut at a clause mark (, ; : — ،) or else between words; a single over-long "word" is
cut hard. Joining the pieces with single spaces gives back the input: nothing is ever dropped.
"""

from __future__ import annotations

import re

from .money import RUPEE

_SENTENCE_END = re.compile(r"(?<=[.!?…।॥。！？؟۔])[\"'”’»)\]]*(?=\s|$)|(?<=[。！？।॥])")
_CLAUSE_MARKS = ",;:—–،、"
# A period after these is not a sentence end. Normalised text has them spelt out already; this
# matters for raw text arriving in pieces over the WebSocket, split before normalisation.
_NO_SPLIT_AFTER = {
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "prof.",
    "sr.",
    "jr.",
    "st.",
    "mt.",
    "vs.",
    "e.g.",
    "i.e.",
    "no.",
    "gen.",
    "capt.",
    "lt.",
    "sgt.",
    "rev.",
    "approx.",
    "dept.",
    "inc.",
    "ltd.",
    "co.",
    "corp.",
    # Rupees before an amount (normalisation reads them; a WebSocket text is split before that).
    *(mark.lower() for mark in RUPEE if mark.endswith(".")),
}


def _is_abbreviation(text: str) -> bool:
    word = text.rsplit(None, 1)[-1].lower() if text.strip() else ""
    # Known abbreviations, and initials such as "J." in "J. R. Smith".
    return word in _NO_SPLIT_AFTER or (len(word) == 2 and word[0].isalpha() and word[1] == ".")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends; every non-space character of `text` lands in exactly one piece."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if _is_abbreviation(text[start:end]):
            continue
        if end > start:
            piece = text[start:end].strip()
            if piece:
                pieces.append(piece)
            start = end
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Cut `text` (longer than limit) in two: at the last clause mark, else the last space, else hard."""
    window = text[: limit + 1]
    for i in range(len(window) - 1, limit // 3, -1):
        if window[i] in _CLAUSE_MARKS and (i + 1 == len(text) or text[i + 1].isspace()):
            return text[: i + 1].strip(), text[i + 1 :].strip()
    space = window.rfind(" ", limit // 3)
    if space > 0:
        return text[:space].strip(), text[space + 1 :].strip()
    return text[:limit], text[limit:].strip()


def _bounded(sentence: str, limit: int) -> list[str]:
    out: list[str] = []
    while len(sentence) > limit:
        head, sentence = _cut(sentence, limit)
        out.append(head)
    if sentence:
        out.append(sentence)
    return out


def split_text(text: str, *, first_max_chars: int = 80, max_chars: int = 300) -> list[str]:
    """Pieces to synthesise in turn. The first is at most `first_max_chars` (time to first audio
    depends on it); the rest at most `max_chars` (backends degrade on very long inputs)."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        limit = first_max_chars if not pieces else max_chars
        if len(sentence) > limit and not pieces:
            head, sentence = _cut(sentence, first_max_chars)
            pieces.append(head)
            if not sentence:
                continue
        pieces.extend(_bounded(sentence, max_chars))
    return pieces
