"""Streaming voice-activity detection with the Silero model that faster-whisper ships.

faster-whisper's `SileroVADModel.__call__` scores a whole recording and resets the model's recurrent
state on every call; a live stream needs that state (and the 64-sample context) carried from one
chunk to the next, so this class drives the same ONNX session itself, 512 samples (32 ms) at a time.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import get_vad_model

WINDOW = 512  # samples at 16 kHz, the size the Silero model was trained on
_CONTEXT = 64


class StreamingVad:
    def __init__(self) -> None:
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """Speech probabilities of every complete 32 ms window now available, in order."""
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        count = len(self._pending) // WINDOW
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        windows = self._pending[: count * WINDOW].reshape(count, WINDOW)
        self._pending = self._pending[count * WINDOW :]
        # Each window is scored with the last 64 samples before it, as the model expects.
        contexts = np.concatenate([self._context[None, :], windows[:-1, -_CONTEXT:]], axis=0)
        self._context = windows[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(probs, dtype=np.float32).reshape(-1)
