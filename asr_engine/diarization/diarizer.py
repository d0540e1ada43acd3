"""Speaker labels for a transcribed recording: windows over its words, CAM++ embeddings, clustering.

Offline (the whole recording at once). Blocking: seconds of CPU per hour of audio, so callers run it
in a thread, as they run the transcription.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr_engine.settings import AsrSettings
from common.asr_jobs import SAMPLE_RATE
from common.asr_options import SpeakerHints

from .clustering import cluster
from .embeddings import MIN_WINDOW_FRAMES, SpeakerEmbedder, fbank
from .labels import label_words
from .weights import onnx_path
from .windows import windows_over


@dataclass(frozen=True)
class Diarization:
    words: list[dict[str, Any]]  # the input words with `speaker` and `speaker_confidence`
    speakers: int
    windows: int  # embeddings computed (for metrics: the cost grows with them)


class Diarizer:
    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self._embedder = SpeakerEmbedder(model_path, threads)

    @classmethod
    def from_settings(cls, settings: AsrSettings) -> Diarizer:
        path = onnx_path(settings.asr_diarization_model, Path(settings.asr_model_cache_dir))
        return cls(path, settings.asr_diarization_threads)

    def diarize(
        self, audio: np.ndarray, words: Sequence[dict[str, Any]], hints: SpeakerHints | None = None
    ) -> Diarization:
        """Label `words` ({word, start, end, ...}, seconds) of 16 kHz mono float `audio` by speaker."""
        hints = hints or SpeakerHints()
        if not words:
            return Diarization([], 0, 0)
        duration = len(audio) / SAMPLE_RATE
        windows, feats = [], []
        for window in windows_over([(float(w["start"]), float(w["end"])) for w in words], duration):
            window_feats = fbank(audio[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)])
            if len(window_feats) >= MIN_WINDOW_FRAMES:
                windows.append(window)
                feats.append(window_feats)
        labels = cluster(self._embedder.embed(feats), hints)
        labelled = label_words(words, windows, labels)
        return Diarization(labelled, len({w["speaker"] for w in labelled}), len(windows))
