"""Speech sessions: how every TTS transport speaks. Text goes in (a whole request, or sentence by
sentence), encoded audio comes out, and this layer owns, once for every surface:

- admission: each synthesis holds a slot of the TTS engine (`TTS_MAX_ACTIVE`), taken when its first
  audio is pulled, before a response starts, and freed when it ends or the client leaves (a WebSocket
  session's sentences wait for theirs: the session was admitted, so it is not cut for want of one);
  a cloning reference is decoded in a slot too;
- the one encode loop (rate, speed, encoder) and the TTS metrics (time to first audio, real-time factor);
- usage metering: the characters of an accepted request, the audio seconds as they are produced;
- the failure table, what a client is shown when synthesis fails:

  | transport | before the first audio | mid-stream |
  |---|---|---|
  | whole file, chunked HTTP (`audio_response`) | the JSON error, its status | the body ends early (no last chunk) |
  | framed HTTP: SSE, NDJSON (`framed_response`) | the JSON error, its status | the surface's error frame, the end |
  | WebSocket (app.sessions.speech_socket) | the error frame and close code | the error frame and close code |

  An engine error keeps its kind (app.errors.from_engine_error); a failure of no known kind is
  `upstream_unavailable` (503) before the first audio and `upstream_stream_failed` (502) after it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from fastapi.responses import Response, StreamingResponse
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from app.audio.encode import Encoder, PyAVEncoder, finalize_wav, make_encoder
from app.audio.transform import AudioTransform
from app.errors import ApplianceError, UpstreamStreamFailed, UpstreamUnavailable, as_appliance_error
from app.services.reference import ReferenceUpload
from app.services.speech import SpeechPlan, SpeechRequest, SpeechService
from common.metrics import TTS_FIRST_AUDIO, TTS_RTF

from .admission import EngineLimiter
from .usage import Usage

log = logging.getLogger(__name__)

T = TypeVar("T")
AudioCallback = Callable[[float], None]


def failure(exc: BaseException, *, started: bool, backend: str = "TTS") -> ApplianceError:
    """The failure table's one mapping: what the client is told when synthesis fails."""
    if started:
        return as_appliance_error(exc, UpstreamStreamFailed("synthesis failed mid-stream"))
    return as_appliance_error(exc, UpstreamUnavailable(f"the {backend} backend failed: {type(exc).__name__}"))


def audio_headers(plan: SpeechPlan) -> dict[str, str]:
    headers = {"X-Sample-Rate": str(plan.sample_rate), "X-Voice": plan.voice.id, "Cache-Control": "no-store"}
    if plan.format.name in ("pcm", "wav"):  # what a client of raw PCM needs to play it
        headers |= {"X-Bit-Depth": "16", "X-Channels": "1"}
    return headers


@dataclass(frozen=True)
class Frames(Generic[T]):
    """How a surface writes a framed stream: one frame per item, an error frame, a last frame."""

    item: Callable[[T], str]
    error: Callable[[ApplianceError], str]
    last: str = ""


class AudioStreamResponse(StreamingResponse):
    """Closes the body generator however the response ends, so synthesis never outlives it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


class SpeechSessions:
    """What the lifespan keeps at `app.state.speech`: the speech service behind the engine's slots."""

    def __init__(self, service: SpeechService, limiter: EngineLimiter | None = None) -> None:
        self.service = service
        self.limiter = limiter  # None: unbounded (tests of the service alone)

    async def plan(
        self,
        connection: HTTPConnection,
        request: SpeechRequest,
        *,
        text_param: str = "input",
        format_param: str = "response_format",
        reference: ReferenceUpload | None = None,
    ) -> SpeechPlan:
        """A request checked and accepted (every client mistake is a 4xx here); its characters metered.
        A cloning reference is decoded in a slot of the engine: nothing is decoded outside one."""
        decoding = reference is not None and not reference.empty and self.limiter is not None
        async with self.limiter.slot() if decoding else contextlib.nullcontext():  # type: ignore[union-attr]
            plan = await self.service.plan(
                request, text_param=text_param, format_param=format_param, reference=reference
            )
        Usage(connection).characters = plan.characters
        return plan

    def session(self, connection: HTTPConnection, template: SpeechPlan, *, patient: bool = False) -> SpeechSession:
        """`patient`: a WebSocket session, admitted already; its sentences wait for the engine rather
        than being refused mid-stream (EngineLimiter.acquire)."""
        return SpeechSession(self, template, Usage(connection), patient=patient)

    # --- the one encode loop ---------------------------------------------------------------------
    async def encode(
        self, plan: SpeechPlan, encoder: Encoder, on_audio: AudioCallback, *, patient: bool = False
    ) -> AsyncGenerator[bytes, None]:
        """Synthesise the plan in an engine slot, change rate and speed, encode as audio is produced,
        and record the TTS metrics. `on_audio(seconds)` reports this plan's audio so far. The encoder
        is not finished here: a WebSocket session keeps one across many plans."""
        transform = AudioTransform(plan.voice.sample_rate, plan.sample_rate, plan.speed)
        produced = 0
        started = time.perf_counter()
        first_audio: float | None = None
        complete = False

        def encoded(samples: np.ndarray) -> bytes:
            nonlocal produced, first_audio
            produced += samples.size
            on_audio(produced / plan.sample_rate)
            data = encoder.encode(samples)
            if data and first_audio is None:
                first_audio = time.perf_counter() - started
                TTS_FIRST_AUDIO.labels(plan.backend.name).observe(first_audio)
            return data

        try:
            async with self.limiter.slot(patient=patient) if self.limiter else contextlib.nullcontext():
                async with contextlib.aclosing(self.service.samples(plan)) as samples:  # type: ignore[type-var]
                    async for chunk in samples:
                        if data := encoded(transform.process(chunk)):
                            yield data
            data = encoded(transform.flush())
            complete = True
            if produced:
                seconds = produced / plan.sample_rate
                TTS_RTF.labels(plan.backend.name).observe((time.perf_counter() - started) / seconds)
            if data:
                yield data
        finally:
            log.info("speech", extra={"fields": {
                "voice": plan.voice.id, "format": plan.format.name, "pieces": len(plan.pieces),
                "characters": plan.characters, "audio_s": round(produced / plan.sample_rate, 2),
                "complete": complete, "ms": round((time.perf_counter() - started) * 1000, 1),
            }})

    async def _stream(self, plan: SpeechPlan, usage: Usage) -> AsyncGenerator[bytes, None]:
        """Encoded bytes of one whole response as they are produced (its own encoder, finished)."""
        encoder = make_encoder(plan.format, plan.sample_rate)

        def metered(seconds: float) -> None:
            usage.audio_seconds = seconds

        finished = False
        try:
            async with contextlib.aclosing(self.encode(plan, encoder, metered)) as parts:
                async for data in parts:
                    yield data
            tail = encoder.finish()
            finished = True
            if tail:
                yield tail
        finally:
            if not finished and isinstance(encoder, PyAVEncoder):
                encoder.close()

    # --- HTTP transports ---------------------------------------------------------------------------
    async def audio_response(self, connection: HTTPConnection, plan: SpeechPlan, *, stream: bool) -> Response:
        """The audio as one file (WAV with its real sizes), or streamed (chunked) as it is produced."""
        parts = self._stream(plan, Usage(connection))
        if not stream:
            try:
                body = b"".join([part async for part in parts])
            except Exception as exc:
                raise failure(exc, started=False, backend=plan.backend.name) from None
            body = finalize_wav(body) if plan.format.name == "wav" else body
            return Response(body, media_type=plan.content_type, headers=audio_headers(plan))
        started = await primed(parts, plan.backend.name)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for part in started:
                    yield part
            except Exception as exc:
                # Headers are gone: ending the chunked body early is how the client learns of it.
                log.warning("synthesis failed mid-stream", extra={"fields": {"code": failure(exc, started=True).code}})
                raise

        return AudioStreamResponse(chunks(), media_type=plan.content_type, headers=audio_headers(plan))

    async def framed_audio(
        self, connection: HTTPConnection, plan: SpeechPlan, frames: Frames[bytes], media_type: str
    ) -> Response:
        """The audio in a surface's frames (SSE events), written as it is produced."""
        parts = self._stream(plan, Usage(connection))
        return await framed_response(parts, frames, media_type, audio_headers(plan), plan.backend.name)


async def primed(parts: AsyncIterator[T], backend: str) -> AsyncIterator[T]:
    """`parts` with its first item produced now, before a response starts: a failure here is still a
    clean HTTP error (the failure table's first column)."""
    try:
        first = [await anext(parts)]
    except StopAsyncIteration:
        first = []
    except Exception as exc:
        await parts.aclose()  # type: ignore[attr-defined]
        raise failure(exc, started=False, backend=backend) from None

    async def chained() -> AsyncGenerator[T, None]:
        try:
            for item in first:
                yield item
            async for item in parts:
                yield item
        finally:
            await parts.aclose()  # type: ignore[attr-defined]

    return chained()


async def framed_response(
    parts: AsyncIterator[T], frames: Frames[T], media_type: str, headers: dict[str, str], backend: str
) -> Response:
    """Items written as frames; a failure mid-stream is the surface's error frame, and no last frame."""
    started = await primed(parts, backend)

    async def body() -> AsyncIterator[str]:
        try:
            async for item in started:
                yield frames.item(item)
        except Exception as exc:
            yield frames.error(failure(exc, started=True))
            return
        finally:
            await started.aclose()  # type: ignore[attr-defined]
        if frames.last:
            yield frames.last

    return AudioStreamResponse(body(), media_type=media_type, headers=headers)


class SpeechSession:
    """Text spoken piece by piece on one encoder (an Ogg or MP3 stream stays one valid stream), for
    WebSockets and sentence-timed answers; its characters and audio metered as they come."""

    def __init__(self, sessions: SpeechSessions, template: SpeechPlan, usage: Usage, *, patient: bool = False) -> None:
        self._sessions = sessions
        self._template = template
        self._usage = usage
        self._patient = patient
        self._encoder = make_encoder(template.format, template.sample_rate)
        self._finished = False
        self.characters = 0
        self.audio_seconds = 0.0

    @property
    def plan(self) -> SpeechPlan:
        return self._template

    def accept(self, text: str, param: str = "text") -> None:
        """More text for this session, within MAX_TEXT_CHARS for the whole session."""
        self._sessions.service.check_length(self.characters + len(text), param, "open another session")
        self.characters += len(text)
        self._usage.characters = self.characters

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """One piece of text (a sentence) through the encode loop, on the session's encoder."""
        plan = self._sessions.service.plan_text(self._template, text)
        before = self.audio_seconds

        def progress(seconds: float) -> None:
            self.audio_seconds = before + seconds
            self._usage.audio_seconds = self.audio_seconds

        async with contextlib.aclosing(
            self._sessions.encode(plan, self._encoder, progress, patient=self._patient)
        ) as parts:
            async for data in parts:
                yield data

    def finish(self) -> bytes:
        self._finished = True
        return self._encoder.finish()

    def close(self) -> None:
        if not self._finished and isinstance(self._encoder, PyAVEncoder):
            self._encoder.close()
