"""Pronunciation lexicons: word -> spoken form (abbreviations, brand names, places).

Applied to the raw text before numbers are read, whole words only and case-sensitive (so "IT" and
"it" differ); the longest entry wins where entries overlap ("New Delhi" before "New"). A spoken
form is not looked up again, but its digits are read like any others. Two lexicons apply per
request: the request's own, then the operator's for the voice's language; a word in both is said
the request's way.

Operator lexicons: a folder (TTS_LEXICON_DIR) of `<language>.tsv` (word TAB spoken form, one per
line; blank lines and lines starting with # skipped) or `<language>.json` (an object of strings),
read once at start; a malformed file stops the start with its path and line.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

from .languages import language_for
from .patterns import alternation
from .script import WORD

_PLACEHOLDER = 0xF0000  # private-use characters stand in for spoken forms between the passes


class LexiconError(ValueError):
    """A lexicon that cannot be used: the message names the file (and line) or the entry."""


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


class Lexicon:
    def __init__(self, entries: Mapping[str, str]) -> None:
        cleaned = {_clean(word): _clean(spoken) for word, spoken in entries.items()}
        if "" in cleaned:
            raise LexiconError("a lexicon word is empty")
        self.entries = cleaned
        self.pattern = re.compile(rf"(?<![{WORD}])(?:{alternation(list(cleaned))})(?![{WORD}])")

    def __len__(self) -> int:
        return len(self.entries)


def lexicon_of(entries: Mapping[str, str] | None) -> Lexicon | None:
    """A lexicon, or None for no entries."""
    return Lexicon(entries) if entries else None


def apply_lexicons(text: str, lexicons: Iterable[Lexicon | None]) -> str:
    """Each lexicon in turn; what one has replaced is out of reach of the next."""
    spoken: list[str] = []

    def swap(entries: Mapping[str, str]):  # type: ignore[no-untyped-def]
        def replace(m: re.Match[str]) -> str:
            spoken.append(entries[m.group(0)])
            return chr(_PLACEHOLDER + len(spoken) - 1)

        return replace

    for lex in lexicons:
        if lex is not None:
            text = lex.pattern.sub(swap(lex.entries), text)
    if not spoken:
        return text
    return text.translate({_PLACEHOLDER + i: words for i, words in enumerate(spoken)})


def _read_tsv(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise LexiconError(f"{path}:{number}: expected 'word<TAB>spoken form', got {line!r}")
        word = _clean(parts[0])
        if word in entries:
            raise LexiconError(f"{path}:{number}: {word!r} is listed twice")
        entries[word] = parts[1]
    return entries


def _read_json(path: Path) -> dict[str, str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise LexiconError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in entries.items()
    ):
        raise LexiconError(f"{path}: expected one JSON object of non-empty strings (word -> spoken form)")
    return entries


class Lexicons:
    """The operator's lexicons, one per language."""

    def __init__(self, by_language: Mapping[str, Lexicon] | None = None) -> None:
        self._by_language = dict(by_language or {})

    def get(self, language: str) -> Lexicon | None:
        """The lexicon for a voice's language code ("hi", "en-US", ...), if any."""
        lang = language_for(language)
        return self._by_language.get(lang.code) if lang is not None else None

    def __len__(self) -> int:
        return len(self._by_language)


def load_lexicons(folder: Path | None) -> Lexicons:
    """The operator's lexicons from `folder` (None: none)."""
    if folder is None:
        return Lexicons()
    if not folder.is_dir():
        raise LexiconError(f"TTS_LEXICON_DIR {folder} is not a folder")
    found: dict[str, Lexicon] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".tsv", ".json"):
            continue  # a README beside the lexicons
        lang = language_for(path.stem)
        if lang is None:
            raise LexiconError(f"{path}: {path.stem!r} is not a language code of the voices (e.g. hi.tsv, ta.json)")
        if lang.code in found:
            raise LexiconError(f"{path}: a second lexicon for {lang.code!r}")
        entries = _read_tsv(path) if path.suffix == ".tsv" else _read_json(path)
        if entries:
            found[lang.code] = Lexicon(entries)
    return Lexicons(found)
