"""The one interface every TTS backend implements.

A backend turns one already-normalised piece of text into audio, yielding float32 mono chunks in
[-1, 1] at its own sample rate as soon as they are produced. Sentence splitting, crossfades,
resampling, speed and encoding belong to the gateway's TTS service, not to backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Voice:
    id: str  # public id, e.g. "hi_male" or "en_us_joe"; never sent to a model as-is
    name: str  # human-readable name
    language: str  # BCP-47-ish language code, e.g. "hi", "en-US"
    gender: str  # "male" | "female"
    backend: str  # "piper" | "svara"
    sample_rate: int


@dataclass(frozen=True)
class SamplingParams:
    """Sampling fields for backends driven by a language model; others ignore them."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    voice: Voice
    sampling: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""


@runtime_checkable
class TTSBackend(Protocol):
    name: str

    def voices(self) -> list[Voice]:
        """Every voice this backend can speak, available now or not."""
        ...

    def is_available(self) -> bool:
        """Whether synthesis can start right now (model loaded, upstream reachable)."""
        ...

    def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        """Yield float32 mono chunks at `request.voice.sample_rate`. Cancelling the iteration
        (client gone) must stop the work underneath."""
        ...

    async def close(self) -> None: ...
