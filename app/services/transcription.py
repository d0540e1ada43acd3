"""Speech-to-text for every API surface: typed requests in, typed transcripts out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from pydantic import BaseModel

from app import bounds
from app.audio.decode import TARGET_RATE, DecodedAudio, decode_audio
from app.clients.asr import AsrClient
from app.components import ComponentRegistry
from app.errors import ApplianceError, BadRequest, InvalidParameter, NotFound, UnsupportedMedia, from_protocol
from app.limits import EngineLimiter
from common import asr_jobs as q
from common import asr_stream

log = logging.getLogger(__name__)


class Word(BaseModel):
    word: str
    start: float
    end: float
    confidence: float


class Segment(BaseModel):
    id: int
    seek: int = 0
    start: float
    end: float
    text: str
    tokens: list[int] = []
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


class Transcript(BaseModel):
    request_id: str
    text: str
    language: str
    duration: float
    words: list[Word] | None = None
    segments: list[Segment]


@dataclass(frozen=True)
class TranscriptionRequest:
    audio: DecodedAudio
    language: str | None = None
    word_timestamps: bool = False
    prompt: str | None = None
    temperature: float = 0.0
    callback_url: str | None = None


class TranscriptionService:
    def __init__(
        self,
        client: AsrClient,
        components: ComponentRegistry,
        *,
        job_timeout_s: float,
        max_audio_seconds: float,
        limiter: EngineLimiter | None = None,
    ) -> None:
        self.limiter = limiter  # bounds synchronous transcriptions waiting on the queue
        self.client = client
        self.components = components
        self.job_timeout_s = job_timeout_s
        self.max_audio_seconds = max_audio_seconds

    async def decode(self, data: bytes) -> DecodedAudio:
        # Decoding an hour of compressed audio takes seconds: keep the event loop free meanwhile.
        return await asyncio.to_thread(decode_audio, data, max_seconds=self.max_audio_seconds)

    def check_ready(self) -> None:
        self.components.require("asr")
        self.components.require("redis")

    def check_language(self, language: str | None) -> None:
        languages = self.components.get("asr").detail.get("languages")
        if language and isinstance(languages, list) and language not in languages:
            shown = ", ".join(languages[:12]) + (", …" if len(languages) > 12 else "")
            raise InvalidParameter(
                f"language {language!r} is not supported by the loaded model (supported: {shown})",
                param="language",
            )

    async def submit(self, req: TranscriptionRequest) -> str:
        """Queue the job; its result lands in Redis (and at the callback, if any)."""
        self.check_ready()
        self.check_language(req.language)
        job = q.Job(
            job_id=q.new_job_id(),
            duration=round(req.audio.duration, 3),
            language=req.language or "",
            word_timestamps=req.word_timestamps,
            prompt=req.prompt or "",
            temperature=req.temperature,
            callback_url=req.callback_url or "",
        )
        await self.client.enqueue(job, req.audio.pcm)
        log.info("transcription queued", extra={"fields": {"job_id": job.job_id, "audio_s": job.duration}})
        return job.job_id

    async def transcribe(self, req: TranscriptionRequest) -> Transcript:
        async with self.limiter.slot() if self.limiter is not None else contextlib.nullcontext():
            job_id = await self.submit(req)
            result = await self.client.wait(job_id, self.job_timeout_s)
        return to_transcript(result, with_words=req.word_timestamps)

    async def lookup(self, job_id: str) -> dict[str, Any]:
        if not job_id.isalnum() or len(job_id) > 64:
            raise NotFound("no such request_id")
        found = await self.client.status(job_id)
        if found is None:
            raise NotFound(f"no transcription with request_id {job_id} (unknown or expired)")
        found.setdefault("request_id", job_id)
        return found


def to_transcript(result: dict[str, Any], *, with_words: bool) -> Transcript:
    if result.get("status") != "done":
        error = result.get("error") or {}
        if error.get("code") == "invalid_parameter":
            raise InvalidParameter(str(error.get("message")), param="language")
        raise ApplianceError(f"transcription failed: {error.get('message', 'unknown error')}")
    return Transcript(
        request_id=result["request_id"],
        text=result["text"],
        language=result["language"],
        duration=result["duration"],
        words=[Word(**w) for w in result["words"]] if with_words else None,
        segments=[Segment(**s) for s in result["segments"]],
    )


class StreamAudio:
    """Client audio of one streaming session: validated, counted and resampled to 16 kHz PCM16."""

    def __init__(self, sample_rate: int, encoding: str) -> None:
        if encoding != "linear16":
            raise UnsupportedMedia(f"encoding {encoding!r} is not supported; use linear16", param="encoding")
        bounds.check(sample_rate, bounds.SAMPLE_RATE, "sample_rate", " Hz")
        self.sample_rate = sample_rate
        self.samples = 0
        self._resampler = (
            None
            if sample_rate == TARGET_RATE
            else av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)
        )

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def convert(self, data: bytes) -> bytes:
        if len(data) % 2:
            raise BadRequest("binary frames must hold whole 16-bit little-endian samples")
        self.samples += len(data) // 2
        if self._resampler is None or not data:
            return data
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(data, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.sample_rate
        return b"".join(
            bytes(out.to_ndarray().astype("<i2").tobytes()) for out in self._resampler.resample(frame)
        )


def parse_control(text: str) -> str:
    """A text frame must be a control message of the worker protocol; returns its type."""
    try:
        return asr_stream.parse_control(text)
    except asr_stream.ProtocolError as exc:
        raise from_protocol(exc) from None
