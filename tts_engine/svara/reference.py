"""Zero-shot cloning references: reference audio -> SNAC frames, encoded once per distinct audio.

The gateway decodes and resamples the upload (PyAV) to SNAC's rate; this module checks its length,
runs SNAC's encoder off the event loop and keeps the frames in an LRU keyed by a hash of the samples,
so a client that sends the same reference with every request pays for the encode once. Neither the
audio nor its transcript is logged: only lengths and cache outcomes.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from common.metrics import SVARA_REFERENCE_CACHE
from tts_engine.base import REFERENCE_SECONDS, VoiceReference

from .errors import SvaraBadRequest
from .snac.engine import SnacEngine

MIN_REFERENCE_S, MAX_REFERENCE_S = REFERENCE_SECONDS


@dataclass(frozen=True)
class EncodedReference:
    frames: np.ndarray  # (F, 7) SNAC codes, each in [0, codebook_size)
    transcript: str


def reference_digest(audio: np.ndarray) -> str:
    """Content key of the reference: the samples the encoder sees, not the uploaded container."""
    return hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


def check_reference(reference: VoiceReference, sample_rate: int) -> None:
    """Everything about a reference that can be refused before any work starts."""
    if reference.sample_rate != sample_rate:
        raise SvaraBadRequest(
            f"reference_audio must be resampled to {sample_rate} Hz before encoding", param="reference_audio"
        )
    if not reference.transcript.strip():
        raise SvaraBadRequest(
            "reference_transcript is required with reference_audio and must not be empty", param="reference_transcript"
        )
    seconds = reference.audio.shape[0] / sample_rate
    if seconds < MIN_REFERENCE_S:
        raise SvaraBadRequest(
            f"reference_audio is {seconds:.2f} s long; it must be at least {MIN_REFERENCE_S:g} s",
            param="reference_audio",
        )
    if seconds > MAX_REFERENCE_S:
        raise SvaraBadRequest(
            f"reference_audio is {seconds:.2f} s long; it must be at most {MAX_REFERENCE_S:g} s",
            param="reference_audio",
        )


class ReferenceEncoder:
    """SNAC-encodes references, with an LRU of the last `capacity` distinct ones."""

    def __init__(self, engine: SnacEngine, *, capacity: int = 32) -> None:
        self._engine = engine
        self._capacity = capacity
        self._frames: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the encode runs in a worker thread
        self.sample_rate = engine.sample_rate

    async def encode(self, reference: VoiceReference) -> EncodedReference:
        check_reference(reference, self.sample_rate)
        key = reference_digest(reference.audio)
        with self._lock:
            frames = self._frames.get(key)
            if frames is not None:
                self._frames.move_to_end(key)
        if frames is None:
            SVARA_REFERENCE_CACHE.labels(result="miss").inc()
            frames = await asyncio.get_running_loop().run_in_executor(None, self._engine.encode, reference.audio)
            with self._lock:
                self._frames[key] = frames
                self._frames.move_to_end(key)
                while len(self._frames) > self._capacity:
                    self._frames.popitem(last=False)
        else:
            SVARA_REFERENCE_CACHE.labels(result="hit").inc()
        return EncodedReference(frames=frames, transcript=reference.transcript.strip())
