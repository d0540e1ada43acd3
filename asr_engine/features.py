"""What a request may ask beyond the transcript, set up once per worker: keywords (every request,
with the operator's vocabulary), speaker labels (batch jobs) and redaction (batch and streaming).

A batch result is finished in this order: speakers are labelled on the words Whisper heard, segments
are cut where the speaker changes, then text, words and segments are redacted, and only then are the
utterances built, from the redacted words. What leaves `finish` is all that is stored and sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from common.asr_options import Category, SpeakerHints

from .diarization import Diarizer, SpeakerModelMissing, turns
from .diarization.labels import split_segments
from .redaction import Redactor
from .redaction.apply import written
from .settings import AsrSettings
from .vocabulary import Vocabulary, whisper_token_counter

log = logging.getLogger(__name__)


class FeatureUnavailable(RuntimeError):
    """This worker cannot do what the request asks (its speaker model is missing); the message says why."""


@dataclass
class Features:
    vocabulary: Vocabulary
    diarizer: Diarizer | None
    diarizer_error: str = ""  # why speaker labels are unavailable, when they are

    @classmethod
    def load(cls, settings: AsrSettings, model: WhisperModel, operator: list[str]) -> Features:
        """Blocking (run it in a thread). The speaker model is loaded now (0.1 s), so that /health says
        at start whether speaker labels work, and the first request does not wait for it. A missing
        speaker model leaves transcription working: only requests for speaker labels fail."""
        vocabulary = Vocabulary(operator, whisper_token_counter(model))
        started = time.perf_counter()
        try:
            diarizer = Diarizer.from_settings(settings)
        except SpeakerModelMissing as exc:
            log.warning("speaker labels unavailable", extra={"fields": {"error": str(exc)}})
            return cls(vocabulary, None, str(exc))
        log.info("speaker model loaded", extra={"fields": {"s": round(time.perf_counter() - started, 2)}})
        return cls(vocabulary, diarizer)

    async def finish(
        self,
        audio: np.ndarray,
        result: dict[str, Any],
        *,
        diarize: bool,
        hints: SpeakerHints,
        redact: frozenset[Category],
    ) -> dict[str, Any]:
        """A transcriber result with the speaker labels and redaction the request asked for."""
        if diarize:
            if self.diarizer is None:
                raise FeatureUnavailable(f"speaker labels are unavailable on this worker: {self.diarizer_error}")
            # Seconds of CPU for long recordings: off the event loop, and outside the model's slots
            # (the embedding model is not Whisper's), so live sessions keep their turns meanwhile.
            labelled = await asyncio.to_thread(self.diarizer.diarize, audio, result["words"], hints)
            result = dict(result, words=labelled.words, segments=split_segments(result["segments"], labelled.words))
        redactor = Redactor(redact)
        if redactor:
            result = redactor.result(result)
        if diarize:
            result["utterances"] = utterances(result["words"])
        return result


def utterances(labelled: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Smallest's and Deepgram's `utterances`: one per stretch of one speaker, cut at pauses too."""
    return [
        {
            "start": turn.start,
            "end": turn.end,
            "transcript": written([str(w["word"]) for w in turn.words]),
            "speaker": turn.speaker,
            "confidence": turn.confidence,
            "words": turn.words,
        }
        for turn in turns(labelled)
    ]
