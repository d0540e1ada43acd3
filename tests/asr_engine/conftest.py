"""The real tiny.en model and its batched decoder, shared by the ASR engine's in-process tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from faster_whisper import WhisperModel

from asr_engine import bundled
from asr_engine.decoder import BatchDecoder
from asr_engine.scheduler import DecodeScheduler
from common.aio import cancel_and_wait
from tests.support.asr_session import RecordingDecoder


@pytest.fixture(scope="session")
def tiny_en() -> WhisperModel:
    """The CPU profile's real model, loaded once (2 threads, as the test machines have)."""
    return WhisperModel(str(bundled.tiny_en()), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.fixture(scope="session")
def decoder(tiny_en: WhisperModel) -> BatchDecoder:
    return BatchDecoder(tiny_en)


@pytest.fixture
def recording(decoder: BatchDecoder) -> RecordingDecoder:
    return RecordingDecoder(decoder)


@pytest.fixture
async def scheduler(recording: RecordingDecoder) -> AsyncIterator[DecodeScheduler]:
    """A running scheduler (one slot) over the recording decoder."""
    scheduler = DecodeScheduler(recording.decode, max_batch=16, slots=1)
    task = asyncio.create_task(scheduler.run())
    yield scheduler
    await cancel_and_wait([task])
