"""Finding what to redact in a sequence of words (Whisper's words, or a transcript split at spaces).

Numbers reach a transcript in two forms: written ("4111 1111 1111 1111", "415-555-0132") and, when
Whisper hears digits one by one, spoken ("four one one one …", "forty one eleven …", "oh" for zero).
Consecutive number words and digit groups form one *run*; text2num turns its words into digits.
A run is checked as a whole: a card number must be 13-19 digits and pass Luhn (python-stdnum), an
SSN or an Aadhaar number must pass python-stdnum's checks, a phone number must be valid for one of
PHONE_REGIONS or carry a country code (phonenumbers). Only a run longer than any of these (over 19
digits: two numbers spoken without a pause) is searched for a shorter entity at its start or end;
searching every part of a run would find a Luhn-valid 13-digit stretch in one of every few long
numbers, and redact what is no card. Emails are found written (a@b.com) or spoken ("john dot smith
at example dot com").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from stdnum import luhn
from stdnum.in_ import aadhaar
from stdnum.us import ssn
from text_to_num import alpha2digit

from common.asr_options import Category

PHONE_REGIONS = ("US", "IN", "GB")
LONGEST_ENTITY = 19  # digits of the longest card number
MIN_NUMBER_DIGITS = 3  # Deepgram's `numbers`: three or more consecutive numerals

_NUMBER_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand double triple".split()
)
_SCALES = frozenset({"hundred", "thousand"})
_EDGE = re.compile(r"^[^\w+@]+|[^\w]+$")  # punctuation around a word: "(415)", "1111,", "one."
_WRITTEN_NUMBER = re.compile(r"^\+?[\d().\-/,]*\d[\d().\-/,]*$")
_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
_TLDS = frozenset("com org net edu gov io co in uk us info biz me ai".split())


@dataclass(frozen=True)
class Span:
    start: int  # first word
    end: int  # one past the last word
    category: Category
    value: str  # what was found, normalised (digits, or the email): equal values share a placeholder


def core(word: str) -> str:
    return _EDGE.sub("", word)


def find(words: Sequence[str], wanted: frozenset[Category]) -> list[Span]:
    """Non-overlapping spans of `words` to redact, in order."""
    spans: list[Span] = []
    if Category.EMAIL in wanted:
        spans += _emails(words)
    numeric = wanted - {Category.EMAIL}
    if numeric:
        taken = {i for s in spans for i in range(s.start, s.end)}
        for start, end in _runs(words):
            if not any(i in taken for i in range(start, end)):
                spans += _in_run(words, start, end, numeric)
    return sorted(spans, key=lambda s: s.start)


def _kind(word: str) -> str | None:
    """'digits' for a written number, 'words' for a spoken one, None for anything else."""
    text = core(word).lower()
    if _WRITTEN_NUMBER.match(text):
        return "digits"
    parts = text.split("-")
    if parts and all(part in _NUMBER_WORDS for part in parts):
        return "words"
    return None


def _runs(words: Sequence[str]) -> list[tuple[int, int]]:
    """Maximal stretches of number words and digit groups ("and" only after hundred/thousand, "plus"
    only first)."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, word in enumerate(words):
        joins = (
            start is not None
            and core(word).lower() == "and"
            and core(words[i - 1]).lower() in _SCALES
            and i + 1 < len(words)
            and _kind(words[i + 1]) == "words"
        )
        # "plus" starts a run when a number follows: "plus four four …" is an international number
        leads = start is None and core(word).lower() == "plus" and i + 1 < len(words) and _kind(words[i + 1])
        if _kind(word) or joins or leads:
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(words)))
    return runs


def digits_of(words: Sequence[str]) -> str:
    """The digits a run of words says: written groups as they are, spoken ones through text2num."""
    out: list[str] = []
    spoken: list[str] = []

    def flush() -> None:
        if spoken:
            out.append(re.sub(r"\D", "", alpha2digit(" ".join(spoken), "en")))
            spoken.clear()

    for word in words:
        text = core(word).lower()
        if _kind(word) == "digits":
            flush()
            out.append(re.sub(r"\D", "", text))
            continue
        for part in text.split("-"):
            if part == "oh":
                part = "zero"  # "five five five oh one": alpha2digit leaves "oh" alone
            if spoken and spoken[-1] in ("double", "triple"):
                spoken[-1:] = [part] * (2 if spoken[-1] == "double" else 3)
            elif part != "and" or spoken:
                spoken.append(part)
    flush()
    return "".join(out)


def _entity(digits: str, wanted: frozenset[Category], plus: bool) -> Category | None:
    n = len(digits)
    if Category.PCI in wanted and 13 <= n <= 19 and luhn.is_valid(digits):
        return Category.PCI
    if Category.AADHAAR in wanted and n == 12 and aadhaar.is_valid(digits):
        return Category.AADHAAR
    if Category.SSN in wanted and n == 9 and ssn.is_valid(digits):
        return Category.SSN
    if Category.PHONE in wanted and 7 <= n <= 15 and _phone(digits, plus):
        return Category.PHONE
    return None


def _phone(digits: str, plus: bool) -> bool:
    candidates = [("+" + digits, None)] if plus else [(digits, r) for r in PHONE_REGIONS] + [("+" + digits, None)]
    for number, region in candidates:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _in_run(words: Sequence[str], start: int, end: int, wanted: frozenset[Category]) -> list[Span]:
    digits = digits_of(words[start:end])
    opening = core(words[start]).lower()
    found = _entity(digits, wanted, plus=opening.startswith("+") or opening == "plus")
    if found:
        return [Span(start, end, found, digits)]
    spans: list[Span] = []
    if len(digits) > LONGEST_ENTITY:
        spans = _at_the_edges(words, start, end, wanted)
    if Category.NUMBERS in wanted:
        covered = {i for s in spans for i in range(s.start, s.end)}
        rest = [i for i in range(start, end) if i not in covered]
        for first, last in _stretches(rest):
            left = digits_of(words[first:last])
            if len(left) >= MIN_NUMBER_DIGITS:
                spans.append(Span(first, last, Category.NUMBERS, left))
    return spans


def _at_the_edges(words: Sequence[str], start: int, end: int, wanted: frozenset[Category]) -> list[Span]:
    """The longest entity that starts the run, and the longest that ends what is left of it."""
    spans: list[Span] = []
    for cut in range(end - 1, start, -1):
        found = _entity(digits_of(words[start:cut]), wanted, False)
        if found:
            spans.append(Span(start, cut, found, digits_of(words[start:cut])))
            start = cut
            break
    for cut in range(start + 1, end):
        found = _entity(digits_of(words[cut:end]), wanted, False)
        if found:
            spans.append(Span(cut, end, found, digits_of(words[cut:end])))
            break
    return spans


def _stretches(indices: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _emails(words: Sequence[str]) -> list[Span]:
    spans: list[Span] = []
    lowered = [core(w).lower() for w in words]
    i = 0
    while i < len(words):
        if _EMAIL.match(lowered[i]):
            spans.append(Span(i, i + 1, Category.EMAIL, lowered[i]))
        elif lowered[i] == "at" and i > 0:
            spoken = _spoken_email(lowered, i)
            if spoken:
                spans.append(spoken)
                i = spoken.end
                continue
        i += 1
    return spans


def _spoken_email(words: list[str], at: int) -> Span | None:
    """'john dot smith at example dot com': a name (parts joined by 'dot'), 'at', a domain ending in a TLD."""
    end, labels = at + 1, []
    while end < len(words) and words[end].isalnum():
        labels.append(words[end])
        if end + 1 < len(words) and words[end + 1] == "dot":
            end += 2
        else:
            end += 1
            break
    if len(labels) < 2 or labels[-1] not in _TLDS:
        return None
    start = at - 1
    while start >= 2 and words[start - 1] == "dot" and words[start - 2].isalnum():
        start -= 2
    if not words[start].isalnum():
        return None
    value = ".".join(w for w in words[start:at] if w != "dot") + "@" + ".".join(labels)
    return Span(start, end, Category.EMAIL, value)
