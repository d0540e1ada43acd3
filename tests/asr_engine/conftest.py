"""Fixtures of the ASR engine's in-process tests."""

from __future__ import annotations

import pytest
from faster_whisper import WhisperModel

from asr_engine import bundled


@pytest.fixture(scope="session")
def tiny_en() -> WhisperModel:
    """The CPU profile's real model, loaded once (2 threads, as the test machines have)."""
    return WhisperModel(str(bundled.tiny_en()), device="cpu", compute_type="int8", cpu_threads=2)
