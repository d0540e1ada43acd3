"""A backend whose voices exist but cannot speak here: disabled in this deployment, or still loading.

It keeps the voices in the catalogue (listed as unavailable, so clients can see what the appliance
offers) and refuses synthesis with an EngineUnavailable that says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from .base import EngineUnavailable, SynthesisRequest, Voice


class UnavailableBackend:
    clones_voices = False  # it speaks nothing; voices resolve to 503 before cloning is asked
    def __init__(self, name: str, voices: list[Voice], reason: str, *, retry_after_s: int = 5) -> None:
        self.name = name
        self._voices = voices
        self.reason = reason
        self.retry_after_s = retry_after_s

    def voices(self) -> list[Voice]:
        return list(self._voices)

    def is_available(self) -> bool:
        return False

    def check(self, request: SynthesisRequest) -> None:
        raise EngineUnavailable(self.reason, retry_after_s=self.retry_after_s)

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        self.check(request)
        yield np.zeros(0, dtype=np.float32)  # never reached: makes this an async generator

    async def close(self) -> None:
        return None
