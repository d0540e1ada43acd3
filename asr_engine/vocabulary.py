"""Custom vocabulary: names and terms Whisper should expect, as faster-whisper `hotwords`.

Sources: a request's `keywords` (common.asr_options.parse_keywords reads them) and the operator's
vocabulary file (`ASR_VOCABULARY_FILE`, one entry per line, `#` comments), which applies to every
request, batch or streaming.

Why `hotwords` and not `initial_prompt`: faster-whisper puts `hotwords` into the decoder prompt of
*every* 30-second window (after `<|startofprev|>`, before the previous text), while `initial_prompt`
only starts the rolling context of previous text: it is pushed out once about 223 tokens (a minute or
two of speech) have been decoded after it, and dropped whenever that context is reset. A name said
ten minutes in needs the former. `initial_prompt` stays the request's own `prompt` (OpenAI, Realtime),
as before. faster-whisper ignores `hotwords` when a `prefix` is set (not used here). Live sessions
decode each utterance on its own, with the hotwords, then the prompt, in its decoder prompt (as
`WhisperModel.get_prompt` lays them out).

Budget: Whisper's decoder holds 448 tokens for prompt and output together. faster-whisper gives the
previous text up to 223 of them and cuts `hotwords` silently at 223; what the hotwords take is lost
to the transcript of each window. So keywords (with the operator's) may use at most
`MAX_HOTWORD_TOKENS` tokens, leaving about 150 for a window's text, what a fast talker says in
30 s; a request over it gets an error that says so, never a silent cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.asr_options import InvalidOption, parse_keywords

MAX_HOTWORD_TOKENS = 64

TokenCounter = Callable[[str], int]


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


class Vocabulary:
    """The operator's vocabulary and the model's tokenizer: what every request's keywords become."""

    def __init__(self, operator: list[str], count_tokens: TokenCounter) -> None:
        self.operator = operator
        self.count_tokens = count_tokens
        try:
            self.hotwords([])
        except InvalidOption as exc:  # no request could be served: say so at start-up
            raise RuntimeError(f"ASR_VOCABULARY_FILE: {exc}") from None

    def hotwords(self, keywords: Sequence[str]) -> str | None:
        """faster-whisper's `hotwords` for a request's keywords (the operator's first, repeats removed),
        or an InvalidOption naming `keywords` when they take more than MAX_HOTWORD_TOKENS tokens."""
        merged = list(self.operator)
        seen = {k.casefold() for k in merged}
        merged += [k for k in keywords if k.casefold() not in seen]
        hotwords = ", ".join(merged)
        if not hotwords:
            return None
        used = self.count_tokens(hotwords)
        if used > MAX_HOTWORD_TOKENS:
            operator = f" (the operator's vocabulary takes {self.count_tokens(', '.join(self.operator))})"
            raise InvalidOption(
                "keywords",
                f"the keywords take {used} Whisper tokens{operator if self.operator else ''}; at most "
                f"{MAX_HOTWORD_TOKENS} fit beside the transcript in Whisper's 448-token decoder: send fewer "
                "or shorter keywords",
            )
        return hotwords
