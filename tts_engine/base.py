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


Bound = tuple[float, float]

# The range of each sampling field, the one rule for every surface and the vLLM client alike
# (`check_sampling`). A backend that cannot honour a value inside it refuses the request with
# EngineBadRequest (422).
SAMPLING_BOUNDS: dict[str, Bound] = {
    "temperature": (0.05, 1.5),
    "top_p": (0.05, 1.0),
    "top_k": (1, 200),
    "repetition_penalty": (1.0, 2.0),
    "max_tokens": (28, 65536),
    "seed": (0, 2**31 - 1),
}


# A cloning reference must hold this much speech (seconds): less does not carry a voice, more
# crowds the model's context. Checked by the gateway when decoding and by the backend.
REFERENCE_SECONDS = (1.0, 30.0)


@dataclass(frozen=True, eq=False)
class VoiceReference:
    """Zero-shot cloning: speak in the voice of `audio` (float32 mono at `sample_rate`), whose words
    are `transcript`. Only backends that can clone accept it; the others refuse the request."""

    audio: np.ndarray
    transcript: str
    sample_rate: int


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    voice: Voice
    sampling: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""
    # The first piece of a stream: its first audio is what a listener waits for, so a backend that
    # queues work runs it ahead of later pieces of other streams.
    first_piece: bool = True
    reference: VoiceReference | None = None


class EngineError(Exception):
    """Base of the errors a backend raises; the gateway maps each kind onto one HTTP error."""


class EngineUnavailable(EngineError):
    """The engine (or what it calls) is not ready or refused: retry after `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EngineBadRequest(EngineError):
    """The request itself cannot be served (e.g. sampling values out of bounds); `param` names the
    field at fault, when one is."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def out_of_bounds(param: str, bound: Bound, unit: str = "") -> str:
    """The one message for a value outside its bound, whichever value and layer."""
    low, high = (str(int(n)) if float(n).is_integer() else f"{n:g}" for n in bound)
    return f"{param} must be between {low} and {high}{unit}"


def check_sampling(sampling: SamplingParams, error: type[EngineBadRequest] = EngineBadRequest) -> None:
    """The one sampling validator: raises `error` naming the first field outside SAMPLING_BOUNDS."""
    for name, (low, high) in SAMPLING_BOUNDS.items():
        value = getattr(sampling, name)
        if value is not None and not low <= value <= high:
            raise error(out_of_bounds(name, (low, high)), param=name)


class EngineTimeout(EngineError):
    """The engine stopped producing within its time limit (hung upstream)."""


class EngineStreamFailed(EngineError):
    """Synthesis failed after audio had started to flow."""


@runtime_checkable
class TTSBackend(Protocol):
    name: str
    clones_voices: bool  # accepts SynthesisRequest.reference (zero-shot cloning)

    def voices(self) -> list[Voice]:
        """Every voice this backend can speak, available now or not."""
        ...

    def is_available(self) -> bool:
        """Whether synthesis can start right now (model loaded, upstream reachable)."""
        ...

    def check(self, request: SynthesisRequest) -> None:
        """Raise an EngineError for anything refusable before audio starts (called before the
        response begins, so the client gets a clean HTTP error instead of a broken stream)."""
        ...

    def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        """Yield float32 mono chunks at `request.voice.sample_rate`. Cancelling the iteration
        (client gone) must stop the work underneath."""
        ...

    async def close(self) -> None: ...
