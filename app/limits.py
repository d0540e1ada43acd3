"""The limits and defaults of request values, each defined once and used by every surface (HTTP
bodies, WebSocket queries and events) and the services behind them. Sampling fields have theirs in
tts_engine.base (SAMPLING_BOUNDS, check_sampling), where the engines check them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from tts_engine.base import Bound, out_of_bounds

from .errors import InvalidParameter

SPEED: Bound = (0.5, 2.0)  # TTS speed factor
SAMPLE_RATE: Bound = (8000, 48000)  # Hz: TTS output, and streamed ASR input

# The rate OpenAI defines `pcm` at (speech and Realtime) and the default of Waves and the Svara SDK:
# what those clients play or send when a request names no rate.
PCM_RATE = 24000
LISTEN_STREAM_RATE = 16000  # WS /v1/listen/stream's input rate when the query names none


@dataclass(frozen=True)
class TextLimits:
    """How much text one request (or one WebSocket session) may carry, and how it is cut for the
    backends: a short first piece so audio starts early, then pieces up to `max_piece_chars`."""

    max_chars: int = 5000
    first_piece_chars: int = 80
    max_piece_chars: int = 300


def check(value: float, bound: Bound, param: str, unit: str = "") -> None:
    """A value outside its bound is a 422 naming `param`."""
    low, high = bound
    if not low <= value <= high:
        raise InvalidParameter(out_of_bounds(param, bound, unit), param=param)


def documented(bound: Bound, default: Any = None, **kwargs: Any) -> Any:
    """A pydantic field whose bound the OpenAPI document shows; the service checks it (`check`,
    check_sampling), so every surface gives the same message."""
    low, high = bound
    return Field(default, json_schema_extra={"minimum": low, "maximum": high}, **kwargs)
