"""Text-to-speech: validate, pick the voice's backend, normalise and split the text, synthesise it
piece by piece and join the pieces with a crossfade. Encoding, admission and metering are the
speech sessions' (app/sessions/speech.py); no HTTP here.

`prepare()` does every check and picks the backend before a response starts, so bad input is a
clean 4xx and a backend that is not ready is a 503; `samples()` then only produces audio. Closing
it (client gone) closes the backend's generator, which stops the synthesis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from app import limits
from app.audio.encode import FORMATS, AudioFormat, output_rate
from app.errors import InvalidParameter, NotFound, PayloadTooLarge, UpstreamUnavailable
from app.limits import TextLimits
from app.services.reference import ReferenceUpload
from tts_engine.base import SamplingParams, SynthesisRequest, TTSBackend, Voice, VoiceReference, check_sampling
from tts_engine.text import Lexicon, LexiconError, Lexicons, lexicon_of, normalize_text, split_text
from tts_engine.voices import UnknownVoice, VoiceCatalog


@dataclass(frozen=True)
class SpeechRequest:
    """One TTS request as a surface hands it over, whatever its wire format."""

    text: str
    voice_id: str | None = None
    format: str = "mp3"
    sample_rate: int | None = None  # None: the voice's own rate (or the nearest the format takes)
    speed: float = 1.0
    sampling: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""
    reference: VoiceReference | None = None  # zero-shot cloning (backends that can clone only)
    lexicon: Mapping[str, str] | None = None  # this request's pronunciations: word -> spoken form


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
    lexicon: Lexicon | None = None  # the request's, ahead of the operator's

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


def request_lexicon(entries: Mapping[str, str] | None, param: str = "lexicon") -> Lexicon | None:
    """A request's lexicon, compiled once for the whole request (or WebSocket session)."""
    try:
        return lexicon_of(entries)
    except LexiconError as exc:
        raise InvalidParameter(f"{param}: {exc}", param=param) from None


class SpeechService:
    def __init__(
        self,
        catalog: VoiceCatalog,
        limits: TextLimits | None = None,
        *,
        crossfade_ms: float = 15.0,
        retry_after_s: int = 5,
        lexicons: Lexicons | None = None,
    ) -> None:
        self.catalog = catalog
        self.lexicons = lexicons or Lexicons()  # the operator's, per language (TTS_LEXICON_DIR)
        self.limits = limits or TextLimits()
        self.crossfade_ms = crossfade_ms
        self.retry_after_s = retry_after_s

    # -- validation ----------------------------------------------------------------------------
    def check_text(self, text: str, param: str = "input") -> None:
        if not text or not text.strip():
            raise InvalidParameter(f"{param} is empty: give the text to speak", param=param)
        self.check_length(len(text), param, "split the text into several requests")

    def check_length(self, characters: int, param: str, advice: str) -> None:
        """MAX_TEXT_CHARS, for one request or for the whole of a WebSocket session."""
        if characters > self.limits.max_chars:
            raise PayloadTooLarge(
                f"{param} has {characters} characters; the limit is {self.limits.max_chars} "
                f"(MAX_TEXT_CHARS): {advice}",
                param=param,
            )

    def find_voice(self, voice_id: str | None) -> tuple[Voice, TTSBackend]:
        """The voice (the default for None), whether or not its backend can speak now."""
        try:
            return self.catalog.resolve(voice_id)
        except UnknownVoice as exc:
            raise NotFound(
                f"unknown voice {exc.voice_id!r}; valid voices: {', '.join(exc.valid) or 'none'}",
                param="voice",
                extra={"valid_voices": exc.valid},
            ) from None

    def resolve_voice(self, voice_id: str | None) -> tuple[Voice, TTSBackend]:
        """The voice and its backend, which must be able to speak now (else 503)."""
        voice, backend = self.find_voice(voice_id)
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
        limits.check(speed, limits.SPEED, "speed")
        if sample_rate is not None:
            limits.check(sample_rate, limits.SAMPLE_RATE, "sample_rate", " Hz")
        return fmt, output_rate(fmt, sample_rate or voice.sample_rate)

    def open(self, request: SpeechRequest, format_param: str = "response_format") -> SpeechPlan:
        """Everything about a request but its text (sampling, voice, cloning, format, rate, speed): a
        plan without text yet. A WebSocket session opens once and then speaks text after text."""
        check_sampling(request.sampling)
        voice, backend = self.resolve_voice(request.voice_id)
        if request.reference is not None and not backend.clones_voices:
            raise InvalidParameter(
                f"voice {voice.id!r} ({backend.name} backend) cannot clone a voice from reference_audio; "
                "choose a Svara voice",
                param="reference_audio",
            )
        fmt, rate = self.check_output(voice, request.format, request.sample_rate, request.speed, format_param)
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
            lexicon=request_lexicon(request.lexicon),
        )

    def prepare(
        self, request: SpeechRequest, text_param: str = "input", format_param: str = "response_format"
    ) -> SpeechPlan:
        """The whole request checked and its backend chosen: what is left cannot be the client's fault."""
        self.check_text(request.text, text_param)
        plan = self.plan_text(self.open(request, format_param), request.text)
        if not plan.pieces:  # only invisible characters were sent
            raise InvalidParameter(f"{text_param} has nothing speakable", param=text_param)
        # An EngineError reaches the client through app.errors' mapping.
        plan.backend.check(plan.synthesis(plan.pieces[0]))
        return plan

    async def plan(
        self,
        request: SpeechRequest,
        *,
        text_param: str = "input",
        format_param: str = "response_format",
        reference: ReferenceUpload | None = None,
    ) -> SpeechPlan:
        """`prepare`, with a cloning reference from the client decoded (off the event loop) at the
        rate of the voice that will speak."""
        if reference is not None and not reference.empty:
            voice, _ = self.resolve_voice(request.voice_id)
            request = replace(request, reference=await reference.decode(voice.sample_rate))
        return self.prepare(request, text_param, format_param)

    def read(self, raw_text: str, language: str, lexicon: Lexicon | None = None) -> str:
        """What a voice of `language` reads for `raw_text`: the one normalisation of every surface
        (and of POST /v1/text/normalize), the request's lexicon ahead of the operator's."""
        return normalize_text(raw_text, language, (lexicon, self.lexicons.get(language)))

    def plan_text(self, template: SpeechPlan, raw_text: str) -> SpeechPlan:
        """`template` with its text replaced: normalised once here, then split into pieces."""
        text = self.read(raw_text, template.voice.language, template.lexicon)
        pieces = split_text(
            text, first_max_chars=self.limits.first_piece_chars, max_chars=self.limits.max_piece_chars
        )
        return replace(template, text=text, pieces=pieces, characters=len(raw_text))

    # -- synthesis -----------------------------------------------------------------------------
    async def samples(self, plan: SpeechPlan) -> AsyncIterator[np.ndarray]:
        """Float32 audio of every piece in turn at the voice's rate, joined with a crossfade."""
        fade = int(plan.voice.sample_rate * self.crossfade_ms / 1000)
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
