"""Speaker labels (diarization), offline: CAM++ embeddings on onnxruntime, spectral clustering.

Run time imports no torch (tests/asr_engine/diarization/test_torch_free.py checks): the model is
exported to ONNX once at install time by `python -m asr_engine.diarization.export`.
"""

from __future__ import annotations

from .diarizer import Diarization, Diarizer
from .labels import Turn, label_words, turns
from .weights import SpeakerModelMissing

__all__ = ["Diarization", "Diarizer", "SpeakerModelMissing", "Turn", "label_words", "turns"]
