"""The options of a transcription request beyond the audio: speaker-count hints, keywords, redaction.

Part of the gateway <-> worker contract (batch jobs, common/asr_jobs.py; streaming sessions,
common/asr_stream.py), so both sides check them with the same code: the gateway refuses a bad option
before it queues a job or opens a stream, naming the field (`param` of the JSON error). Light on
purpose (no model imports). What needs the model (the keywords' token budget) the worker checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class InvalidOption(ValueError):
    """A request option is malformed, over a limit, or one the model cannot honour; reported as a 422
    naming `param`."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


# --- speaker-count hints ----------------------------------------------------------------------------
MAX_SPEAKERS = 20  # the most speakers one recording is searched for (and the largest hint accepted)
DEFAULT_MAX_SPEAKERS = 8  # searched when no hint bounds it: meetings and calls rarely have more


@dataclass(frozen=True)
class SpeakerHints:
    """`num_speakers` (exactly), `min_speakers` / `max_speakers` (bounds); None: not given."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_speakers", "min_speakers", "max_speakers"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_SPEAKERS:
                raise InvalidOption(name, f"{name} must be between 1 and {MAX_SPEAKERS}, not {value}")
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise InvalidOption("min_speakers", f"min_speakers ({low}) is larger than max_speakers ({high})")
        n = self.num_speakers
        if n is not None and ((low is not None and n < low) or (high is not None and n > high)):
            raise InvalidOption("num_speakers", f"num_speakers ({n}) is outside min_speakers..max_speakers")

    def bounds(self, windows: int) -> tuple[int, int]:
        """The speaker counts searched, for a recording with this many embedding windows."""
        low = self.min_speakers or 1
        high = self.max_speakers or max(low, DEFAULT_MAX_SPEAKERS)
        high = max(1, min(high, windows))
        return min(low, high), high


def speaker_hints(**raw: str | int | None) -> SpeakerHints:
    """Hints from request values (query or form strings); a value that is no integer names its field."""
    values: dict[str, int | None] = {}
    for name, value in raw.items():
        if value is None or value == "":
            values[name] = None
            continue
        try:
            values[name] = int(value)
        except ValueError:
            raise InvalidOption(name, f"{name} must be an integer between 1 and {MAX_SPEAKERS}") from None
    return SpeakerHints(**values)


# --- custom vocabulary ------------------------------------------------------------------------------
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 50
_BOOST = re.compile(r"^(?P<word>.*?):(?P<boost>[+-]?\d+(\.\d+)?)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_keywords(raw: str | Iterable[str] | None, param: str = "keywords") -> list[str]:
    """Keywords as Smallest and Deepgram take them (a list, the parameter repeated or one
    comma-separated string), boosts removed, in order, without repeats; errors name `param`.

    Deepgram's `keyword:boost`: a positive boost is dropped (Whisper has no per-word weight), a keyword
    with a negative one ("suppress this word") is dropped, since hotwords can only favour a word."""
    items = [raw] if isinstance(raw, str) else list(raw or [])
    out: list[str] = []
    for item in items:
        for entry in str(item).split(","):
            keyword = _keyword(entry, param)
            if keyword and keyword.casefold() not in {k.casefold() for k in out}:
                out.append(keyword)
    if len(out) > MAX_KEYWORDS:
        raise InvalidOption(param, f"{len(out)} keywords given; at most {MAX_KEYWORDS} are accepted")
    return out


def _keyword(entry: str, param: str) -> str | None:
    text = " ".join(entry.split())
    boosted = _BOOST.match(text)
    if boosted:
        if float(boosted["boost"]) < 0:
            return None  # a word to suppress: hotwords cannot do that
        text = boosted["word"].strip()
    if _CONTROL.search(text):
        raise InvalidOption(param, "keywords may not contain control characters")
    if len(text) > MAX_KEYWORD_CHARS:
        raise InvalidOption(param, f"keyword {text[:20]!r}… is {len(text)} characters; at most {MAX_KEYWORD_CHARS}")
    return text or None


# --- redaction --------------------------------------------------------------------------------------
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
    """The categories to redact, from either API's spelling; an unknown name is an error that lists
    the known ones.

    - Smallest: `redact_pii=true` (phone numbers, emails, national IDs; card numbers too, since a caller
      who asks for PII redaction does not expect a card number to survive) and `redact_pci=true` (cards).
    - Deepgram: `redact=pci,ssn,numbers` (comma-separated, or the parameter repeated); `pii` is the
      identifier group, `true` means `numbers` as in Deepgram, `false` nothing."""
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


def category_names(chosen: Iterable[Category]) -> str:
    """Categories as they travel in a job or a session URL (`categories(redact=...)` reads it back)."""
    return ",".join(sorted(c.value for c in chosen))
