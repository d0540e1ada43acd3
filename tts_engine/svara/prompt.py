"""Prompt building from a per-model template (templates.json): layout and special ids are data.

The prompt is sent as text in which each special id is written as its token string; vLLM's
tokenizer maps those back to the ids (and we send add_special_tokens=false so no second BOS is
prepended). Only the voice's speaker string reaches the prompt, never its public id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tokens import frames_to_token_text

DEFAULT_TEMPLATES_PATH = Path(__file__).with_name("templates.json")
CLONE_SLOTS = ("{reference_text}", "{reference_audio}", "{text}")

# Anything that a tokenizer would read as a special token. User text must not smuggle these in
# (e.g. an "<|eot_id|>" in the text would end the human turn early).
_SPECIAL_TEXT = re.compile(r"<\|[^<>|]{0,64}\|>|<custom_token_\d+>")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    special_ids: dict[str, int]
    token_text: dict[int, str]
    layout: list[str]
    text: str
    custom_token_offset: int
    audio_code_offset: int
    codebook_size: int
    stop_token_ids: list[int]
    # Zero-shot cloning: the reference turn (its transcript and audio codes) before the target turn.
    # None: this model card has no cloning layout and cloning requests are refused.
    clone_layout: list[str] | None = None
    clone_text: str = "{text}"

    @classmethod
    def load(cls, name: str, path: Path | None = None) -> PromptTemplate:
        source = path or DEFAULT_TEMPLATES_PATH
        templates = json.loads(Path(source).read_text(encoding="utf-8"))
        if name not in templates or name.startswith("_"):
            known = ", ".join(k for k in templates if not k.startswith("_"))
            raise ValueError(f"no prompt template {name!r} in {source}; known: {known}")
        raw = templates[name]
        template = cls(
            name=name,
            special_ids={k: int(v) for k, v in raw["special_ids"].items()},
            token_text={int(k): v for k, v in raw["token_text"].items()},
            layout=list(raw["layout"]),
            text=raw["text"],
            custom_token_offset=int(raw["custom_token_offset"]),
            audio_code_offset=int(raw["audio_code_offset"]),
            codebook_size=int(raw["codebook_size"]),
            stop_token_ids=[int(i) for i in raw["stop_token_ids"]],
            clone_layout=list(raw["clone_layout"]) if "clone_layout" in raw else None,
            clone_text=raw.get("clone_text", "{text}"),
        )
        template.check()
        return template

    def check(self) -> None:
        """Fail at start-up, not per request, when the template is inconsistent."""
        if self.layout.count("{text}") != 1:
            raise ValueError(f"template {self.name}: layout needs exactly one {{text}} slot")
        for part in self.layout:
            if part != "{text}" and part not in self.special_ids:
                raise ValueError(f"template {self.name}: layout names unknown special token {part!r}")
            if part != "{text}" and self.special_ids[part] not in self.token_text:
                raise ValueError(f"template {self.name}: no token_text for {part!r}")
        if "{text}" not in self.text:
            raise ValueError(f"template {self.name}: text format lacks {{text}}")
        if self.clone_layout is not None:
            for slot in CLONE_SLOTS:
                if self.clone_layout.count(slot) != 1:
                    raise ValueError(f"template {self.name}: clone_layout needs exactly one {slot} slot")
            for part in self.clone_layout:
                if part not in CLONE_SLOTS and self.special_ids.get(part) not in self.token_text:
                    raise ValueError(f"template {self.name}: clone_layout names unknown special token {part!r}")

    def layout_ids(self) -> list[int | str]:
        """The layout with special ids resolved; the text slot stays the string "{text}"."""
        return [part if part == "{text}" else self.special_ids[part] for part in self.layout]

    def frame_xargs(self) -> dict[str, int | list[int]] | None:
        """vLLM custom arguments that turn on the frame processor (frame_processor.py) for a request.
        None when the prompt does not end with start-of-speech: the processor counts frames from the
        first generated token, and such a model generates start-of-speech itself first."""
        if not self.layout or self.layout[-1] != "start_of_speech":
            return None
        return {
            "svara_code_start": self.custom_token_offset + self.audio_code_offset,
            "svara_codebook": self.codebook_size,
            "svara_frame_end": list(self.stop_token_ids),
        }

    def build(self, speaker: str, text: str) -> str:
        slot = self.text.format(speaker=sanitize(speaker), text=sanitize(text))
        parts = [
            slot if part == "{text}" else self.token_text[self.special_ids[part]] for part in self.layout
        ]
        return "".join(parts)


    def build_clone(self, reference_text: str, reference_frames: np.ndarray, text: str) -> tuple[str, int]:
        """The cloning prompt, and an upper bound on its length in tokens: the audio codes and
        special tokens are one token each, text at most one token per UTF-8 byte."""
        if self.clone_layout is None:
            raise ValueError(f"prompt template {self.name} has no cloning layout")
        reference_text, text = sanitize(reference_text), self.clone_text.format(text=sanitize(text))
        parts: list[str] = []
        bound = 0
        for part in self.clone_layout:
            if part == "{reference_audio}":
                parts.append(
                    frames_to_token_text(
                        reference_frames, code_offset=self.audio_code_offset, codebook_size=self.codebook_size
                    )
                )
                bound += reference_frames.size
            elif part in ("{reference_text}", "{text}"):
                value = reference_text if part == "{reference_text}" else text
                parts.append(value)
                bound += len(value.encode("utf-8"))
            else:
                parts.append(self.token_text[self.special_ids[part]])
                bound += 1
        return "".join(parts), bound


def sanitize(text: str) -> str:
    """Remove special-token spellings from user-controlled text."""
    return _SPECIAL_TEXT.sub("", text)
