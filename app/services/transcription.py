"""Speech-to-text for every API surface: typed requests in, typed transcripts out (batch jobs through
the Redis queue). Admission, metering and streaming sessions are app/sessions/transcription.py's."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from app.audio.decode import DecodedAudio, decode_audio
from app.clients.asr import AsrClient
from app.components import ComponentRegistry
from app.errors import ApplianceError, InvalidParameter, NotFound, UpstreamUnavailable
from common import asr_jobs as q
from common.asr_options import Category, SpeakerHints, category_names
from common.callback_guard import CallbackPolicy, CallbackRefused, check_callback_url

log = logging.getLogger(__name__)


class Word(BaseModel):
    word: str
    start: float
    end: float
    confidence: float
    speaker: int | None = None  # 0, 1, … in order of first appearance (diarize)
    speaker_confidence: float | None = None  # the windows' vote for that speaker, 0-1


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
    speaker: int | None = None  # diarize: segments are cut where the speaker changes


class Utterance(BaseModel):
    """One stretch of one speaker (diarize), cut at every change of speaker and at long pauses."""

    start: float
    end: float
    transcript: str
    speaker: int
    confidence: float
    words: list[Word]


class Transcript(BaseModel):
    request_id: str
    text: str
    language: str
    language_probability: float | None = None  # of the detected language (1.0 when one was given)
    duration: float
    words: list[Word] | None = None
    segments: list[Segment]
    utterances: list[Utterance] | None = None


@dataclass(frozen=True)
class Features:
    """What a request asks beyond the transcript (done by the worker, common/asr_options.py checks)."""

    diarize: bool = False  # speaker labels (offline: batch only), with word timestamps
    speakers: SpeakerHints = SpeakerHints()
    keywords: tuple[str, ...] = ()  # names and terms to expect
    redact: frozenset[Category] = frozenset()


@dataclass(frozen=True)
class TranscriptionRequest:
    """What a surface asks of a transcription, in this service's terms (each surface maps its own
    parameter names here)."""

    language: str | None = None  # None: detect
    word_timestamps: bool = False
    prompt: str | None = None
    temperature: float = 0.0
    callback_url: str | None = None  # queued, and the result POSTed there
    owner: str = ""  # the key id that may read the result at GET /v1/listen/{id} ("": an open API)
    features: Features = Features()


class TranscriptionService:
    def __init__(
        self,
        client: AsrClient,
        components: ComponentRegistry,
        *,
        job_timeout_s: float,
        max_audio_seconds: float,
        callback_policy: CallbackPolicy,
    ) -> None:
        self.client = client
        self.components = components
        self.job_timeout_s = job_timeout_s
        self.max_audio_seconds = max_audio_seconds
        self.callback_policy = callback_policy

    async def decode(self, data: bytes) -> DecodedAudio:
        # Decoding an hour of compressed audio takes seconds: keep the event loop free meanwhile.
        return await asyncio.to_thread(decode_audio, data, max_seconds=self.max_audio_seconds)

    def check_ready(self) -> None:
        self.components.require("asr")
        self.components.require("redis")

    def check_language(self, language: str | None, param: str = "language") -> None:
        """A language the loaded model has (None: detect); `param` names the field it came in."""
        languages = self.components.get("asr").detail.get("languages")
        if language and isinstance(languages, list) and language not in languages:
            shown = ", ".join(languages[:12]) + (", …" if len(languages) > 12 else "")
            raise InvalidParameter(
                f"language {language!r} is not supported by the loaded model (supported: {shown})",
                param=param,
            )

    async def check_callback(self, url: str | None) -> None:
        """A callback must be http(s), must not reach CALLBACK_BLOCKED_NETWORKS, nor a private address
        outside CALLBACK_ALLOWED_NETWORKS (resolved to check; the worker checks again where it connects)."""
        if url:
            try:
                await check_callback_url(url, self.callback_policy)
            except CallbackRefused as exc:
                raise InvalidParameter(str(exc), param="callback_url") from None

    async def submit(self, audio: DecodedAudio, req: TranscriptionRequest) -> str:
        """Queue the job; its result lands in Redis (and at the callback, if any)."""
        self.check_ready()
        self.check_language(req.language)
        job = q.Job(
            job_id=q.new_job_id(),
            duration=round(audio.duration, 3),
            language=req.language or "",
            word_timestamps=req.word_timestamps,
            prompt=req.prompt or "",
            temperature=req.temperature,
            callback_url=req.callback_url or "",
            diarize=req.features.diarize,
            num_speakers=req.features.speakers.num_speakers or 0,
            min_speakers=req.features.speakers.min_speakers or 0,
            max_speakers=req.features.speakers.max_speakers or 0,
            keywords=",".join(req.features.keywords),
            redact=category_names(req.features.redact),
        )
        await self.client.enqueue(job, audio.pcm, req.owner)
        log.info("transcription queued", extra={"fields": {"job_id": job.job_id, "audio_s": job.duration}})
        return job.job_id

    async def transcribe(self, audio: DecodedAudio, req: TranscriptionRequest) -> Transcript:
        job_id = await self.submit(audio, req)
        result = await self.client.wait(job_id, self.job_timeout_s)
        return to_transcript(result, with_words=req.word_timestamps or req.features.diarize)

    async def lookup(self, job_id: str, owner: str = "") -> dict[str, Any]:
        """A job's result or state, for its `owner` only: another key is told what an unknown id is
        told (404), so ids cannot be probed."""
        if not job_id.isalnum() or len(job_id) > 64:
            raise NotFound("no such request_id")
        found = await self.client.status(job_id, owner)
        if found is None:
            raise NotFound(f"no transcription with request_id {job_id} (unknown or expired)")
        found.setdefault("request_id", job_id)
        return found


def to_transcript(result: dict[str, Any], *, with_words: bool) -> Transcript:
    if result.get("status") != "done":
        error = result.get("error") or {}
        if error.get("code") == "invalid_parameter":
            raise InvalidParameter(str(error.get("message")), param=error.get("param") or "language")
        if error.get("code") == "unavailable":  # e.g. a worker without its speaker model
            raise UpstreamUnavailable(str(error.get("message")))
        raise ApplianceError(f"transcription failed: {error.get('message', 'unknown error')}")
    utterances = result.get("utterances")
    return Transcript(
        request_id=result["request_id"],
        text=result["text"],
        language=result["language"],
        language_probability=result.get("language_probability"),
        duration=result["duration"],
        words=[Word(**w) for w in result["words"]] if with_words else None,
        segments=[Segment(**s) for s in result["segments"]],
        utterances=None if utterances is None else [Utterance(**u) for u in utterances],
    )
