"""Replacing what `spans.find` found, the same way in a transcript's text, words and segments.

A redacted stretch becomes one placeholder such as `[CARD_NUMBER_1]` in text; in `words`, every word
of it keeps its timing and takes the placeholder as its text (a number spoken as sixteen words stays
sixteen timed words, so word counts, speaker labels and subtitles still line up). One value gets
one placeholder throughout a result (or a stream): a caller repeating the same card number reads
`[CARD_NUMBER_1]` twice. Segment `tokens` (Whisper's token ids, which spell the original text) are
emptied. Nothing of the original is kept: callers store and return only what this gives back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from common.asr_options import Category

from .spans import Span, core, find

PLACEHOLDER = {
    Category.PCI: "CARD_NUMBER",
    Category.SSN: "SSN",
    Category.AADHAAR: "AADHAAR",
    Category.PHONE: "PHONE_NUMBER",
    Category.EMAIL: "EMAIL",
    Category.NUMBERS: "NUMBER",
}
PARTIAL_PLACEHOLDER = "[REDACTED]"
PARTIAL_MIN_DIGITS = 4  # in a partial, a number still being spoken is masked from this many digits
_PLACEHOLDER = re.compile(r"^[A-Z_]+(_\d+)?$")  # inside a placeholder's brackets


class Redactor:
    """Redacts one result, or every message of one stream (placeholders stay consistent within it)."""

    def __init__(self, wanted: frozenset[Category]) -> None:
        self.wanted = wanted
        self._names: dict[tuple[Category, str], str] = {}

    def __bool__(self) -> bool:
        return bool(self.wanted)

    def placeholder(self, span: Span) -> str:
        key = (span.category, span.value)
        if key not in self._names:
            index = sum(1 for c, _ in self._names if c == span.category) + 1
            self._names[key] = f"[{PLACEHOLDER[span.category]}_{index}]"
        return self._names[key]

    def _replacements(self, words: Sequence[str], partial: bool) -> dict[int, tuple[Span, str]]:
        spans = find(words, self.wanted)
        out = {i: (s, self.placeholder(s)) for s in spans for i in range(s.start, s.end)}
        if partial and self.wanted - {Category.EMAIL}:
            # A partial may end inside a number whose checks cannot pass yet: mask long digit runs.
            for span in find(words, frozenset({Category.NUMBERS})):
                if len(span.value) >= PARTIAL_MIN_DIGITS and span.start not in out:
                    out.update({i: (span, PARTIAL_PLACEHOLDER) for i in range(span.start, span.end)})
        return out

    def text(self, text: str, partial: bool = False) -> str:
        words = text.split()
        replaced = self._replacements(words, partial)
        if not replaced:
            return text
        out: list[str] = []
        for i, word in enumerate(words):
            if i not in replaced:
                out.append(word)
            elif i == replaced[i][0].start:  # a stretch is written once, where it starts
                span, name = replaced[i]
                out.append(_keep_edges(word, name, words[min(span.end, len(words)) - 1]))
        return " ".join(out)

    def words(self, words: Sequence[dict[str, Any]], partial: bool = False) -> list[dict[str, Any]]:
        replaced = self._replacements([str(w["word"]) for w in words], partial)
        return [
            dict(word, word=_keep_edges(str(word["word"]), replaced[i][1], str(word["word"])))
            if i in replaced
            else dict(word)
            for i, word in enumerate(words)
        ]

    def segments(self, segments: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each segment's text, searched over all segments at once: a number may cross a boundary."""
        owners: list[int] = []
        words: list[str] = []
        for index, segment in enumerate(segments):
            for word in str(segment["text"]).split():
                owners.append(index)
                words.append(word)
        replaced = self._replacements(words, partial=False)
        texts: list[list[str]] = [[] for _ in segments]
        for i, word in enumerate(words):
            if i not in replaced:
                texts[owners[i]].append(word)
            elif i == replaced[i][0].start:
                # Written once, in the segment where it starts; the rest of it is dropped from the next.
                span, name = replaced[i]
                texts[owners[i]].append(_keep_edges(word, name, words[span.end - 1]))
        changed = {owners[i] for i in replaced}
        return [
            dict(segment, text=" ".join(text), tokens=[]) if index in changed else dict(segment)
            for index, (segment, text) in enumerate(zip(segments, texts, strict=True))
        ]

    def result(self, result: dict[str, Any]) -> dict[str, Any]:
        """A transcriber result ({text, segments, words, …}) with every field redacted consistently."""
        out = dict(result)
        if "segments" in result:
            out["segments"] = self.segments(result["segments"])
            out["text"] = " ".join(s["text"] for s in out["segments"] if s["text"])
        elif "text" in result:
            out["text"] = self.text(str(result["text"]))
        if "words" in result:
            out["words"] = self.words(result["words"])
        return out


def written(words: Sequence[str]) -> str:
    """Redacted words as text: a stretch of words that share one placeholder (a card number said as
    sixteen words) is written once, as `Redactor.text` writes it."""
    out: list[str] = []
    previous: str | None = None
    for word in words:
        inner = core(word)
        name = f"[{inner}]" if _PLACEHOLDER.match(inner) and f"[{inner}]" in word else None
        if name is not None and name == previous:
            out[-1] = _keep_edges(out[-1], name, word)  # the stretch goes on: its last punctuation wins
        else:
            out.append(word)
        previous = name
    return " ".join(out)


def _keep_edges(first: str, name: str, last: str) -> str:
    """The placeholder with the quote that opened the first word and the punctuation that closed the
    last one ("4111," -> "[CARD_NUMBER_1],"); brackets are dropped, they may belong to the number."""
    lead = first[: len(first) - len(first.lstrip("\"'"))]
    stripped = core(last)
    trail = last[last.rfind(stripped) + len(stripped) :].lstrip(")]") if stripped else ""
    return f"{lead}{name}{trail}"


