"""The appliance's one internal audio format: 16-bit little-endian mono PCM (16 kHz on the ASR side)."""

from __future__ import annotations

import numpy as np


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    """float32 samples in [-1, 1) of 16-bit little-endian PCM."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
