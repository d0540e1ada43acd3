"""Which stretches of audio get a speaker embedding: sliding windows over the spans of the words.

The words are what gets labelled, and Whisper's word timings already say where speech is, so no
second voice-activity pass is run. Words closer than `JOIN_GAP_S` form one region (a pause longer than
that is where turns usually change, and a window never spans it); each region is covered by windows
of `WINDOW_S` every `SHIFT_S`, the last one ending at the region's end; a region shorter than a
window gets one window of its own length (at least `MIN_WINDOW_S`, widened around its centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_S = 1.5  # CAM++ embeddings of 1.5 s are stable enough to cluster, short enough to follow turns
SHIFT_S = 0.75
JOIN_GAP_S = 0.3
MIN_WINDOW_S = 0.5


@dataclass(frozen=True)
class Window:
    start: float
    end: float


def speech_regions(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    regions: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if end <= start:
            end = start + 0.01  # Whisper gives zero-length words now and then
        if regions and start - regions[-1][1] < JOIN_GAP_S:
            regions[-1] = (regions[-1][0], max(regions[-1][1], end))
        else:
            regions.append((start, end))
    return regions


def windows_over(spans: Sequence[tuple[float, float]], duration: float) -> list[Window]:
    """Windows (seconds) covering the speech in `spans`, clipped to [0, duration]."""
    out: list[Window] = []
    for start, end in speech_regions(spans):
        if end - start <= WINDOW_S:
            centre, half = (start + end) / 2, max(end - start, MIN_WINDOW_S) / 2
            lo, hi = max(0.0, centre - half), min(duration, centre + half)
            out.append(Window(lo, hi))
            continue
        at = start
        while at + WINDOW_S < end:
            out.append(Window(at, at + WINDOW_S))
            at += SHIFT_S
        out.append(Window(max(start, end - WINDOW_S), min(end, duration)))
    return [w for w in out if w.end > w.start]
