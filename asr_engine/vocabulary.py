"""Custom vocabulary: names and terms Whisper should expect, as faster-whisper `hotwords`.

Sources: a request's `keywords` (Smallest, Deepgram: a list, a repeated parameter or one
comma-separated string) and the operator's vocabulary file (`ASR_VOCABULARY_FILE`, one entry per
line, `#` comments), which applies to every request.

Why `hotwords` and not `initial_prompt`: faster-whisper puts `hotwords` into the decoder prompt of
*every* 30-second window (after `<|startofprev|>`, before the previous text), while `initial_prompt`
only starts the rolling context of previous text: it is pushed out once about 223 tokens (a minute or
two of speech) have been decoded after it, and dropped whenever that context is reset. A name said
ten minutes in needs the former. `initial_prompt` stays the request's own `prompt` (OpenAI, Realtime),
as before. faster-whisper ignores `hotwords` when a `prefix` is set (not used here).

Budget: Whisper's decoder holds 448 tokens for prompt and output together. faster-whisper gives the
previous text up to 223 of them and cuts `hotwords` silently at 223; what the hotwords take is lost
to the transcript of each window. So keywords (with the operator's) may use at most
`MAX_HOTWORD_TOKENS` tokens, leaving about 150 for a window's text, what a fast talker says in
30 s; a request over it gets an error that says so, never a silent cut.

Deepgram's `keyword:boost` is accepted: a positive boost is ignored (Whisper has no per-word weight),
a negative one (Deepgram's "suppress this word") drops the keyword, since hotwords can only favour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from asr_engine.request_errors import InvalidOption

MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 50
MAX_HOTWORD_TOKENS = 64
_BOOST = re.compile(r"^(?P<word>.*?):(?P<boost>[+-]?\d+(\.\d+)?)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

TokenCounter = Callable[[str], int]


def parse_keywords(raw: str | Iterable[str] | None, param: str = "keywords") -> list[str]:
    """The request's keywords, boosts removed, in order, without repeats; errors name `param`."""
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


def load_vocabulary_file(path: str) -> list[str]:
    """The operator's vocabulary (empty `path`: none). Read at start-up: a bad file stops the worker."""
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RuntimeError(f"ASR_VOCABULARY_FILE {path}: {exc.strerror or exc}") from exc
    entries = [line.split("#", 1)[0].strip() for line in lines]
    try:
        return parse_keywords([e for e in entries if e], param="ASR_VOCABULARY_FILE")
    except InvalidOption as exc:
        raise RuntimeError(f"ASR_VOCABULARY_FILE {path}: {exc}") from exc


def whisper_token_counter(model: Any) -> TokenCounter:
    """Counts tokens as faster-whisper encodes hotwords, with the loaded model's tokenizer."""
    tokenizer = model.hf_tokenizer
    return lambda text: len(tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids)


def decode_options(
    operator: list[str], keywords: list[str], prompt: str | None, count_tokens: TokenCounter
) -> dict[str, Any]:
    """`hotwords` and `initial_prompt` for `WhisperModel.transcribe` (and the batched pipeline)."""
    merged = list(operator)
    seen = {k.casefold() for k in merged}
    merged += [k for k in keywords if k.casefold() not in seen]
    hotwords = ", ".join(merged) or None
    if hotwords:
        used = count_tokens(hotwords)
        if used > MAX_HOTWORD_TOKENS:
            mine = f" (the operator's vocabulary takes {count_tokens(', '.join(operator))})" if operator else ""
            raise InvalidOption(
                "keywords",
                f"the keywords take {used} Whisper tokens{mine}; at most {MAX_HOTWORD_TOKENS} fit beside the "
                "transcript in Whisper's 448-token decoder: send fewer or shorter keywords",
            )
    return {"hotwords": hotwords, "initial_prompt": prompt or None}
