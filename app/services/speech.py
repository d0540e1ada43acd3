"""Text-to-speech orchestration: validate, normalise, split, synthesise piece by piece, join with a
crossfade, change speed and rate, encode as the audio is produced.

`prepare()` does every check and picks the backend before a response starts, so bad input is a
clean 4xx and a backend that is not ready is a 503; `stream()` then only produces audio. Closing
the stream (client gone) closes the backend's generator, which stops the synthesis.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace

import numpy as np

from app import bounds
from app.audio.encode import FORMATS, AudioFormat, Encoder, PyAVEncoder, finalize_wav, make_encoder, output_rate
from app.audio.transform import AudioTransform
from app.errors import InvalidParameter, NotFound, PayloadTooLarge, UpstreamUnavailable
from app.limits import EngineLimiter
from common.metrics import TTS_FIRST_AUDIO, TTS_RTF
from tts_engine.base import SamplingParams, SynthesisRequest, TTSBackend, Voice, VoiceReference
from tts_engine.text import normalize_text, split_text
from tts_engine.voices import UnknownVoice, VoiceCatalog

log = logging.getLogger(__name__)

AudioCallback = Callable[[float], None]


@dataclass(frozen=True)
class SpeechRequest:
    """One TTS request as the routes hand it over, whatever API surface it came from."""

    text: str
    voice_id: str | None = None
    format: str = "mp3"
    sample_rate: int | None = None  # None: the voice's own rate (or the nearest the format takes)
    speed: float = 1.0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""
    reference: VoiceReference | None = None  # zero-shot cloning (backends that can clone only)


@dataclass(frozen=True)
class SpeechPlan:
    """A validated request with its backend chosen: nothing left that can be the client's fault."""

    voice: Voice
    backend: TTSBackend
    format: AudioFormat
    sample_rate: int
    speed: float
    text: str  # normalised
    pieces: list[str]
    characters: int  # of the input as received, for metering
    sampling: SamplingParams
    request_id: str
    reference: VoiceReference | None = None

    @property
    def content_type(self) -> str:
        return self.format.content_type

    def synthesis(self, piece: str, *, first_piece: bool = True) -> SynthesisRequest:
        """What the backend is asked for one piece of the text."""
        return SynthesisRequest(
            text=piece,
            voice=self.voice,
            sampling=self.sampling,
            request_id=self.request_id,
            first_piece=first_piece,
            reference=self.reference,
        )


@dataclass(frozen=True)
class SpeechLimits:
    max_text_chars: int = 5000
    first_piece_chars: int = 80
    max_piece_chars: int = 300
    crossfade_ms: float = 15.0


class SpeechService:
    def __init__(
        self,
        catalog: VoiceCatalog,
        limits: SpeechLimits | None = None,
        retry_after_s: int = 5,
        limiter: EngineLimiter | None = None,
    ) -> None:
        self.catalog = catalog
        self.limits = limits or SpeechLimits()
        self.retry_after_s = retry_after_s
        self.limiter = limiter  # bounds concurrent syntheses; None = unbounded (unit tests)

    def _slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.limiter.slot() if self.limiter is not None else contextlib.nullcontext()

    # -- validation ----------------------------------------------------------------------------
    def check_text(self, text: str, param: str = "input") -> None:
        if not text or not text.strip():
            raise InvalidParameter(f"{param} is empty: give the text to speak", param=param)
        self.check_length(len(text), param, "split the text into several requests")

    def check_length(self, characters: int, param: str, advice: str) -> None:
        """MAX_TEXT_CHARS, for one request or for the whole of a WebSocket session."""
        if characters > self.limits.max_text_chars:
            raise PayloadTooLarge(
                f"{param} has {characters} characters; the limit is {self.limits.max_text_chars} "
                f"(MAX_TEXT_CHARS): {advice}",
                param=param,
            )

    def resolve_voice(self, voice_id: str | None) -> tuple[Voice, TTSBackend]:
        try:
            voice, backend = self.catalog.resolve(voice_id)
        except UnknownVoice as exc:
            raise NotFound(
                f"unknown voice {exc.voice_id!r}; valid voices: {', '.join(exc.valid) or 'none'}",
                param="voice",
                extra={"valid_voices": exc.valid},
            ) from None
        if not backend.is_available():
            # A backend that knows why it cannot speak (disabled, failed to load) says so.
            reason = getattr(backend, "reason", None) or "is not ready; retry shortly (see GET /health)"
            raise UpstreamUnavailable(
                f"voice {voice.id!r} ({backend.name} backend): {reason}", retry_after_s=self.retry_after_s
            )
        return voice, backend

    def check_output(
        self,
        voice: Voice,
        fmt_name: str,
        sample_rate: int | None,
        speed: float,
        param: str = "response_format",
    ) -> tuple[AudioFormat, int]:
        fmt = FORMATS.get(fmt_name.lower()) if isinstance(fmt_name, str) else None
        if fmt is None:
            raise InvalidParameter(
                f"unsupported audio format {fmt_name!r}; use one of: {', '.join(FORMATS)}", param=param
            )
        bounds.check(speed, bounds.SPEED, "speed")
        if sample_rate is not None:
            bounds.check(sample_rate, bounds.SAMPLE_RATE, "sample_rate", " Hz")
        return fmt, output_rate(fmt, sample_rate or voice.sample_rate)

    def prepare(
        self, request: SpeechRequest, text_param: str = "input", format_param: str = "response_format"
    ) -> SpeechPlan:
        self.check_text(request.text, text_param)
        voice, backend = self.resolve_voice(request.voice_id)
        if request.reference is not None and not backend.clones_voices:
            raise InvalidParameter(
                f"voice {voice.id!r} ({backend.name} backend) cannot clone a voice from reference_audio; "
                "choose a Svara voice",
                param="reference_audio",
            )
        fmt, rate = self.check_output(voice, request.format, request.sample_rate, request.speed, format_param)
        plan = self.plan_text(self.template(voice, backend, fmt, rate, request), request.text)
        if not plan.pieces:  # only invisible characters were sent
            raise InvalidParameter(f"{text_param} has nothing speakable", param=text_param)
        backend.check(plan.synthesis(plan.pieces[0]))  # an EngineError reaches the client through app.errors' mapping
        return plan

    @staticmethod
    def template(
        voice: Voice, backend: TTSBackend, fmt: AudioFormat, rate: int, request: SpeechRequest
    ) -> SpeechPlan:
        """A plan without text yet (the WebSocket session fills in one sentence at a time)."""
        return SpeechPlan(
            voice=voice,
            backend=backend,
            format=fmt,
            sample_rate=rate,
            speed=request.speed,
            text="",
            pieces=[],
            characters=0,
            sampling=request.sampling,
            request_id=request.request_id,
            reference=request.reference,
        )

    def plan_text(self, template: SpeechPlan, raw_text: str) -> SpeechPlan:
        """`template` with its text replaced: normalised once here, then split into pieces."""
        text = normalize_text(raw_text, template.voice.language)
        pieces = split_text(
            text, first_max_chars=self.limits.first_piece_chars, max_chars=self.limits.max_piece_chars
        )
        return replace(template, text=text, pieces=pieces, characters=len(raw_text))

    # -- synthesis -----------------------------------------------------------------------------
    async def samples(self, plan: SpeechPlan) -> AsyncIterator[np.ndarray]:
        """Float32 audio of every piece in turn at the voice's rate, joined with a crossfade.

        The engine slot is taken when the first audio is pulled (before a response starts) and
        held until this generator ends or is closed."""
        async with self._slot():
            joined = self._joined(plan)
            try:
                async for samples in joined:
                    yield samples
            finally:
                await joined.aclose()  # type: ignore[attr-defined]

    async def _joined(self, plan: SpeechPlan) -> AsyncIterator[np.ndarray]:
        fade = int(plan.voice.sample_rate * self.limits.crossfade_ms / 1000)
        tail = np.zeros(0, dtype=np.float32)  # held back: it may be blended with the next piece
        for index, piece in enumerate(plan.pieces):
            chunks = plan.backend.synthesize(plan.synthesis(piece, first_piece=index == 0))
            fresh = True
            try:
                async for chunk in chunks:
                    chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
                    if fresh and index and tail.size and chunk.size:
                        n = min(tail.size, chunk.size)
                        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
                        blended = tail[tail.size - n :] * ramp[::-1] + chunk[:n] * ramp
                        chunk = np.concatenate([tail[: tail.size - n], blended, chunk[n:]])
                        tail = np.zeros(0, dtype=np.float32)
                    fresh = fresh and not chunk.size
                    joined = np.concatenate([tail, chunk]) if tail.size else chunk
                    cut = max(joined.size - fade, 0)
                    tail = joined[cut:]
                    if cut:
                        yield joined[:cut]
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]
        if tail.size:
            yield tail

    async def encode(
        self, plan: SpeechPlan, encoder: Encoder, on_audio: AudioCallback | None = None
    ) -> AsyncGenerator[bytes, None]:
        """The one encode loop, behind HTTP streams, SSE and WebSocket sessions alike: synthesise the
        plan, change rate and speed, encode with `encoder` as audio is produced, and record the TTS
        metrics. `on_audio(seconds)` reports this plan's audio so far. The encoder is not finished
        here: a WebSocket session keeps one (one valid Ogg/MP3 stream) across many plans."""
        transform = AudioTransform(plan.voice.sample_rate, plan.sample_rate, plan.speed)
        produced = 0
        started = time.perf_counter()
        first_audio: float | None = None
        complete = False

        def encoded(samples: np.ndarray) -> bytes:
            nonlocal produced, first_audio
            produced += samples.size
            if on_audio is not None:
                on_audio(produced / plan.sample_rate)
            data = encoder.encode(samples)
            if data and first_audio is None:
                first_audio = time.perf_counter() - started
                TTS_FIRST_AUDIO.labels(plan.backend.name).observe(first_audio)
            return data

        try:
            async for samples in self.samples(plan):
                data = encoded(transform.process(samples))
                if data:
                    yield data
            data = encoded(transform.flush())
            complete = True
            if produced:
                seconds = produced / plan.sample_rate
                TTS_RTF.labels(plan.backend.name).observe((time.perf_counter() - started) / seconds)
            if data:
                yield data
        finally:
            log.info(
                "speech",
                extra={
                    "fields": {
                        "voice": plan.voice.id,
                        "format": plan.format.name,
                        "pieces": len(plan.pieces),
                        "characters": plan.characters,
                        "audio_s": round(produced / plan.sample_rate, 2),
                        "complete": complete,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                },
            )

    async def stream(
        self, plan: SpeechPlan, on_audio: AudioCallback | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Encoded bytes of one whole response as they are produced (its own encoder, finished)."""
        encoder = make_encoder(plan.format, plan.sample_rate)
        finished = False
        try:
            async with contextlib.aclosing(self.encode(plan, encoder, on_audio)) as parts:
                async for data in parts:
                    yield data
            tail = encoder.finish()
            finished = True
            if tail:
                yield tail
        finally:
            if not finished and isinstance(encoder, PyAVEncoder):
                encoder.close()

    async def render(self, plan: SpeechPlan, on_audio: AudioCallback | None = None) -> bytes:
        """The whole file, for non-streamed replies (WAV gets its real sizes)."""
        data = b"".join([part async for part in self.stream(plan, on_audio)])
        return finalize_wav(data) if plan.format.name == "wav" else data
