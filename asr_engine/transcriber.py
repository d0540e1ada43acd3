"""Running one batch transcription on the loaded model with faster-whisper's own pipelines.

Blocking (seconds of CPU/GPU work): callers run it in a thread so the event loop keeps answering.
Each step that uses the model (the set-up, then each window or batch of windows) runs inside
`turn()`: the worker passes its scheduler's, so live sessions' decodes go between the windows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from common.asr_jobs import SAMPLE_RATE
from common.asr_options import InvalidOption


@dataclass(frozen=True)
class Options:
    language: str | None = None
    word_timestamps: bool = False
    prompt: str | None = None
    hotwords: str | None = None  # asr_engine.vocabulary.Vocabulary.hotwords
    temperature: float = 0.0
    beam_size: int = 5
    batched: bool = False
    batch_size: int = 8


T = TypeVar("T")
Turn = Callable[[], AbstractContextManager[Any]]


def check_language(model: WhisperModel, language: str | None) -> None:
    # faster-whisper silently switches an English-only model to English; say so instead.
    if language and language not in model.supported_languages:
        shown = ", ".join(model.supported_languages[:10]) + (
            ", …" if len(model.supported_languages) > 10 else ""
        )
        raise InvalidOption("language", f"language {language!r} is not supported by this model (supported: {shown})")


def transcribe(
    model: WhisperModel,
    pipeline: BatchedInferencePipeline | None,
    audio: np.ndarray,
    opts: Options,
    turn: Turn = contextlib.nullcontext,
) -> dict[str, Any]:
    """Transcribe 16 kHz mono float32 audio; returns the JSON-ready result (text, segments, words)."""
    check_language(model, opts.language)
    common: dict[str, Any] = {
        "language": opts.language or None,
        "word_timestamps": opts.word_timestamps,
        "initial_prompt": opts.prompt or None,
        "hotwords": opts.hotwords,
        "temperature": opts.temperature if opts.temperature > 0 else [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "beam_size": opts.beam_size,
    }
    with turn():
        if opts.batched and pipeline is not None:
            # The batched pipeline cuts the audio at VAD pauses and decodes the pieces together.
            segments_iter, info = pipeline.transcribe(audio, batch_size=opts.batch_size, **common)
        else:
            segments_iter, info = model.transcribe(audio, vad_filter=False, **common)
    segments: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for index, seg in enumerate(_stepwise(segments_iter, turn)):
        segments.append(
            {
                "id": index,
                "seek": seg.seek,
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "text": seg.text.strip(),
                "tokens": list(seg.tokens),
                "temperature": seg.temperature,
                "avg_logprob": seg.avg_logprob,
                "compression_ratio": seg.compression_ratio,
                "no_speech_prob": seg.no_speech_prob,
            }
        )
        for word in seg.words or []:
            words.append(
                {
                    "word": word.word.strip(),
                    "start": round(word.start, 3),
                    "end": round(word.end, 3),
                    "confidence": round(word.probability, 4),
                }
            )
    return {
        "text": " ".join(s["text"] for s in segments if s["text"]),
        "language": info.language,
        "language_probability": round(info.language_probability, 4),
        "duration": round(len(audio) / SAMPLE_RATE, 3),
        "batched": bool(opts.batched and pipeline is not None),
        "segments": segments,
        "words": words,
    }


def _stepwise(segments: Iterable[T], turn: Turn) -> Iterator[T]:
    """faster-whisper decodes lazily, a window (or a batch of windows) per step: one turn each."""
    steps = iter(segments)
    while True:
        with turn():
            segment = next(steps, None)
        if segment is None:
            return
        yield segment
