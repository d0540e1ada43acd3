"""The speaker-count hints of a diarization request: `num_speakers`, `min_speakers`, `max_speakers`."""

from __future__ import annotations

from dataclasses import dataclass

from asr_engine.request_errors import InvalidOption

MAX_SPEAKERS = 20  # the most speakers one recording is searched for (and the largest hint accepted)
DEFAULT_MAX_SPEAKERS = 8  # searched when no hint bounds it: meetings and calls rarely have more


@dataclass(frozen=True)
class SpeakerHints:
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
