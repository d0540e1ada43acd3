"""The ASR worker's streaming session driven in-process, chunk by chunk, over a decoder that records
what it was asked to decode (the real batched decoder underneath)."""

from __future__ import annotations

from typing import Any

import numpy as np

from asr_engine.decoder import BatchDecoder, DecodeRequest, DecodeResult
from asr_engine.scheduler import DecodeScheduler
from asr_engine.settings import AsrSettings
from asr_engine.streaming import Session
from common.asr_stream import StreamOptions

CHUNK = 1600  # 100 ms of 16 kHz PCM16 samples
SILENCE = np.zeros(CHUNK, dtype=np.int16).tobytes()  # 100 ms


class RecordingDecoder:
    """The real batched decoder; it records each batch it was given (to see what was decoded when)."""

    def __init__(self, decoder: BatchDecoder) -> None:
        self.decoder = decoder
        self.batches: list[list[DecodeRequest]] = []

    @property
    def finals_decoded(self) -> int:
        return sum(r.fallback for batch in self.batches for r in batch)

    def decode(self, requests: list[DecodeRequest]) -> list[DecodeResult]:
        self.batches.append(requests)
        return self.decoder.decode(requests)


def make_session(
    scheduler: DecodeScheduler, speculate_ms: int, endpoint_ms: int = 500
) -> tuple[Session, list[dict[str, Any]]]:
    """A session on `scheduler` and the list of messages it sends."""
    sent: list[dict[str, Any]] = []

    async def emit(message: dict[str, Any]) -> None:
        sent.append(message)

    settings = AsrSettings(asr_stream_speculate_ms=speculate_ms, asr_stream_endpoint_ms=endpoint_ms)
    return Session(scheduler=scheduler, settings=settings, options=StreamOptions(), emit=emit), sent


async def feed(session: Session, pcm: bytes) -> None:
    """PCM16 to the session in 100 ms chunks, as a client sends it."""
    for offset in range(0, len(pcm), CHUNK * 2):
        await session.on_audio(pcm[offset : offset + CHUNK * 2])


def finals(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in sent if m["is_final"]]
