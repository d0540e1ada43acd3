"""From generated text to SNAC frames.

vLLM streams text such as "<custom_token_4123><custom_token_9001>...", split across SSE events at
arbitrary places (even inside a token). The i-th audio token carries code N - 10 - (i mod 7) * 4096;
seven codes make one frame. An out-of-range code spoils its whole frame, which is dropped, but it
still occupies its slot, so the frames after it keep their alignment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from common.metrics import SVARA_DROPPED_FRAMES

CODES_PER_FRAME = 7
_TOKEN = re.compile(r"<custom_token_(\d+)>")
_PARTIAL_PREFIX = "<custom_token_"

@dataclass
class FrameStats:
    frames: int = 0
    dropped_invalid: int = 0
    dropped_incomplete: int = 0
    control_tokens: int = 0


class FrameAssembler:
    """Incremental parser: feed text pieces, get complete valid frames (int64 arrays of 7 codes)."""

    def __init__(self, *, code_offset: int = 10, codebook_size: int = 4096) -> None:
        self._code_offset = code_offset
        self._codebook_size = codebook_size
        self._buffer = ""
        self._index = 0  # audio tokens seen so far (i); valid or not, each takes a slot
        self._frame: list[int] = []
        self._frame_valid = True
        self.stats = FrameStats()

    def feed(self, text: str) -> list[np.ndarray]:
        self._buffer += text
        frames: list[np.ndarray] = []
        end = 0
        for match in _TOKEN.finditer(self._buffer):
            end = match.end()
            frame = self._add(int(match.group(1)))
            if frame is not None:
                frames.append(frame)
        self._buffer = self._keep_tail(self._buffer[end:])
        return frames

    def finish(self) -> None:
        """End of speech: a started but incomplete frame cannot be decoded; count it."""
        if self._frame:
            self.stats.dropped_incomplete += 1
            SVARA_DROPPED_FRAMES.labels(reason="incomplete").inc()
        self._frame = []
        self._buffer = ""

    def _add(self, number: int) -> np.ndarray | None:
        if number < self._code_offset:
            # Control tokens (start/end of speech, pad, ...) are not audio and take no slot.
            self.stats.control_tokens += 1
            return None
        code = number - self._code_offset - (self._index % CODES_PER_FRAME) * self._codebook_size
        self._index += 1
        if not 0 <= code < self._codebook_size:
            self._frame_valid = False
        self._frame.append(code)
        if len(self._frame) < CODES_PER_FRAME:
            return None
        frame, valid = self._frame, self._frame_valid
        self._frame, self._frame_valid = [], True
        if not valid:
            self.stats.dropped_invalid += 1
            SVARA_DROPPED_FRAMES.labels(reason="invalid_code").inc()
            return None
        self.stats.frames += 1
        return np.asarray(frame, dtype=np.int64)

    @staticmethod
    def _keep_tail(rest: str) -> str:
        """Keep only what could still become a token: a suffix that is a prefix of one."""
        start = rest.rfind("<")
        if start < 0:
            return ""
        tail = rest[start:]
        if _PARTIAL_PREFIX.startswith(tail) or (
            tail.startswith(_PARTIAL_PREFIX) and tail[len(_PARTIAL_PREFIX) :].isdigit()
        ):
            return tail
        return ""


def frames_to_codes(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, 7) frames -> SNAC's three layers: [c0], [c1, c4], [c2, c3, c5, c6] per frame."""
    layer0 = frames[:, 0]
    layer1 = frames[:, [1, 4]].reshape(-1)
    layer2 = frames[:, [2, 3, 5, 6]].reshape(-1)
    return layer0, layer1, layer2


def codes_to_frames(layer0: np.ndarray, layer1: np.ndarray, layer2: np.ndarray) -> np.ndarray:
    """Inverse of frames_to_codes (for tests and benchmarks that start from encoded audio)."""
    count = layer0.shape[0]
    frames = np.empty((count, CODES_PER_FRAME), dtype=np.int64)
    frames[:, 0] = layer0
    frames[:, [1, 4]] = layer1.reshape(count, 2)
    frames[:, [2, 3, 5, 6]] = layer2.reshape(count, 4)
    return frames


def frames_to_token_text(frames: np.ndarray, *, code_offset: int = 10, codebook_size: int = 4096) -> str:
    """Frames as the text the model generates (the inverse of FrameAssembler)."""
    slots = np.arange(CODES_PER_FRAME) * codebook_size + code_offset
    numbers = (frames + slots).reshape(-1)
    return "".join(f"<custom_token_{n}>" for n in numbers)
