"""The bounds on request values that are not sampling fields (those are tts_engine.base's
SAMPLING_BOUNDS), each defined once here and used by every surface: HTTP bodies, WebSocket queries
and the services behind them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .errors import InvalidParameter

Bound = tuple[float, float]

SPEED: Bound = (0.5, 2.0)  # TTS speed factor
SAMPLE_RATE: Bound = (8000, 48000)  # Hz: TTS output, and streamed ASR input


def bounded(bound: Bound, default: Any = None, **kwargs: Any) -> Any:
    """A pydantic field limited to `bound` (a value outside it is a 422 naming the field)."""
    low, high = bound
    return Field(default, ge=low, le=high, **kwargs)


def check(value: float, bound: Bound, param: str, unit: str = "") -> None:
    """The same rule where no pydantic model parses the value (WebSocket queries, services)."""
    low, high = bound
    if not low <= value <= high:
        raise InvalidParameter(f"{param} must be between {_text(low)} and {_text(high)}{unit}", param=param)


def _text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
