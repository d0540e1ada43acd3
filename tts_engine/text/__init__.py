"""Text handling shared by every backend: normalise once, then split into speakable pieces."""

from __future__ import annotations

from .normalize import normalize_text
from .split import split_text

__all__ = ["normalize_text", "split_text"]
