"""TTS over HTTP: the OpenAI, Svara-style and Smallest-style surfaces and the voice catalogue.

HTTP only: bodies are parsed here and handed to `SpeechService` as a `SpeechRequest`. The service
validates and picks the backend, and the first audio is produced, before the response starts,
so every client mistake (and a backend that fails at once) is a proper JSON error.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.types import Receive, Scope, Send

from app.bounds import bounded
from app.errors import ApplianceError, InvalidParameter, UpstreamStreamFailed, UpstreamUnavailable, as_appliance_error
from app.licensing import licensed
from app.services.reference import read_reference, reference_bytes_from_base64
from app.services.speech import SpeechPlan, SpeechRequest, SpeechService
from tts_engine.base import SAMPLING_BOUNDS, SamplingParams, VoiceReference

from .text import LexiconFields

router = APIRouter(tags=["text-to-speech"])
log = logging.getLogger(__name__)

# OpenAI defines `pcm` as 24 kHz 16-bit mono and its clients play it so; the Svara authors' server
# answers in it too. A request's own sample_rate wins.
PCM_DEFAULT_RATE = 24000


class SamplingFields(BaseModel):
    """Sampling fields for backends driven by a language model (Svara); others ignore them."""

    temperature: float | None = bounded(SAMPLING_BOUNDS["temperature"])
    top_p: float | None = bounded(SAMPLING_BOUNDS["top_p"])
    top_k: int | None = bounded(SAMPLING_BOUNDS["top_k"])
    repetition_penalty: float | None = bounded(SAMPLING_BOUNDS["repetition_penalty"])
    max_tokens: int | None = bounded(SAMPLING_BOUNDS["max_tokens"])
    seed: int | None = bounded(SAMPLING_BOUNDS["seed"])

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            max_tokens=self.max_tokens,
            seed=self.seed,
        )


class CloningFields(BaseModel):
    """Zero-shot cloning (Svara voices): speak in the voice of a 1-30 s reference recording."""

    reference_audio: str | None = Field(
        None, description="Reference recording, base64 (or a data: URL); as multipart, a file part."
    )
    reference_transcript: str | None = Field(None, description="The words spoken in reference_audio.")


class OpenAISpeechBody(SamplingFields, CloningFields, LexiconFields):
    """OpenAI's fields, plus the extras the Svara SDK sends on the same route, and cloning."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field("tts-1", description="Accepted for compatibility; the voice picks the backend.")
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0
    stream_format: Literal["audio", "sse"] = "audio"
    stream: bool | None = Field(
        None, description="Svara SDK: false sends the whole file (a WAV with its real sizes); unset streams."
    )
    sample_rate: int | None = Field(None, description="Svara SDK: output rate; pcm defaults to 24 kHz.")
    lang: str | None = Field(None, description="Svara SDK: accepted; the voice sets the language.")


class SvaraSpeechBody(SamplingFields, CloningFields, LexiconFields):
    """As the Svara authors' server: streamed raw 16-bit mono PCM at 24 kHz unless asked otherwise."""

    model_config = ConfigDict(extra="ignore")
    text: str
    voice: str | None = None
    model_id: str | None = None
    stream: bool = True
    response_format: str | None = Field(None, description="Default: pcm when streamed, wav when not.")
    sample_rate: int | None = Field(None, description="Default: 24000 for pcm, the voice's own rate otherwise.")
    speed: float = 1.0


class SmallestSpeakBody(LexiconFields):
    model_config = ConfigDict(extra="ignore")
    text: str
    voice_id: str | None = None
    sample_rate: int | None = None
    speed: float = 1.0
    add_wav_header: bool = True
    output_format: str = "wav"


class AudioStreamResponse(StreamingResponse):
    """Closes the audio generator however the response ends, so synthesis never outlives it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def speech_service(request: Request) -> SpeechService:
    return request.app.state.speech  # type: ignore[no-any-return]


def meter(request: Request, text: str) -> None:
    # Usage metering contract: the license middleware reads these after the response.
    request.state.characters = len(text)
    request.state.audio_seconds = 0.0


def _on_audio(request: Request):  # type: ignore[no-untyped-def]
    def update(seconds: float) -> None:
        request.state.audio_seconds = seconds

    return update


def audio_headers(plan: SpeechPlan) -> dict[str, str]:
    headers = {"X-Sample-Rate": str(plan.sample_rate), "X-Voice": plan.voice.id, "Cache-Control": "no-store"}
    if plan.format.name in ("pcm", "wav"):  # what a client of raw PCM needs to play it
        headers |= {"X-Bit-Depth": "16", "X-Channels": "1"}
    return headers


async def _svara_body(request: Request) -> tuple[SvaraSpeechBody, bytes | None]:
    """The body as JSON (reference_audio in base64) or multipart (reference_audio as a file)."""
    upload: bytes | None = None
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            fields: dict[str, object] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "reference_audio":
                        raise InvalidParameter(f"unexpected file part {key!r}", param=key)
                    upload = await value.read()
                else:
                    fields[key] = value
            return SvaraSpeechBody.model_validate(fields), upload
        return SvaraSpeechBody.model_validate_json(await request.body()), None
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _reference(body: CloningFields, upload: bytes | None = None) -> VoiceReference | None:
    audio = upload
    if audio is None and body.reference_audio is not None:
        audio = reference_bytes_from_base64(body.reference_audio)
    return await read_reference(audio, body.reference_transcript)


def _failed(plan: SpeechPlan, exc: Exception) -> ApplianceError:
    """What the client is told when synthesis fails before the response starts: app.errors' one
    mapping, where a failure of no known kind is the backend's (503)."""
    return as_appliance_error(
        exc, UpstreamUnavailable(f"the {plan.backend.name} backend failed: {type(exc).__name__}")
    )


async def _started(service: SpeechService, plan: SpeechPlan, request: Request) -> AsyncGenerator[bytes, None]:
    """The audio stream with its first bytes already produced (a failure here is still a clean error)."""
    stream = service.stream(plan, _on_audio(request))
    try:
        first = await anext(stream, b"")
    except Exception as exc:
        await stream.aclose()
        raise _failed(plan, exc) from None

    async def chained() -> AsyncGenerator[bytes, None]:
        try:
            if first:
                yield first
            async for part in stream:
                yield part
        except Exception:
            # Headers are gone: ending the chunked body early is how the client learns of it.
            log.exception("synthesis failed mid-stream")
            raise
        finally:
            await stream.aclose()

    return chained()


async def audio_response(request: Request, plan: SpeechPlan, *, stream: bool) -> Response:
    service = speech_service(request)
    if not stream:
        try:
            body = await service.render(plan, _on_audio(request))
        except Exception as exc:
            raise _failed(plan, exc) from None
        return Response(body, media_type=plan.content_type, headers=audio_headers(plan))
    parts = await _started(service, plan, request)
    return AudioStreamResponse(parts, media_type=plan.content_type, headers=audio_headers(plan))


async def sse(
    request: Request,
    plan: SpeechPlan,
    audio: Callable[[bytes], str],
    error: Callable[[ApplianceError], str],
    last: str,
) -> Response:
    """The audio as Server-Sent Events, each frame written the surface's way: `audio(part)` per piece,
    `error(failure)` if synthesis fails mid-stream, else `last` at the end."""
    parts = await _started(speech_service(request), plan, request)

    async def events() -> AsyncIterator[str]:
        try:
            async for part in parts:
                yield audio(part)
        except Exception as exc:
            yield error(as_appliance_error(exc, UpstreamStreamFailed("synthesis failed mid-stream")))
            return
        finally:
            await parts.aclose()  # type: ignore[attr-defined]
        yield last

    return AudioStreamResponse(events(), media_type="text/event-stream", headers=audio_headers(plan))


def _openai_event(event: dict[str, object]) -> str:
    return f"data: {json.dumps(event)}\n\n"


@router.post("/v1/audio/speech")
@licensed("tts")
async def openai_speech(body: OpenAISpeechBody, request: Request) -> Response:
    """OpenAI-compatible speech: streamed (chunked), as SSE with `stream_format=sse`, or the whole
    file with `stream=false` (Svara SDK). `pcm` is 24 kHz unless `sample_rate` says otherwise."""
    meter(request, body.input)
    rate = body.sample_rate
    if rate is None and body.response_format.lower() == "pcm":
        rate = PCM_DEFAULT_RATE
    plan = speech_service(request).prepare(
        SpeechRequest(
            text=body.input,
            voice_id=body.voice,
            format=body.response_format,
            sample_rate=rate,
            speed=body.speed,
            sampling=body.sampling(),
            request_id=getattr(request.state, "request_id", ""),
            reference=await _reference(body),
            lexicon=body.lexicon,
        )
    )
    if body.stream_format == "sse":
        chars = plan.characters
        usage = {"input_tokens": chars, "output_tokens": 0, "total_tokens": chars}
        return await sse(
            request,
            plan,
            audio=lambda part: _openai_event({"type": "speech.audio.delta", "audio": base64.b64encode(part).decode()}),
            error=lambda failure: _openai_event({"type": "error", **failure.body()}),
            last=_openai_event({"type": "speech.audio.done", "usage": usage}),
        )
    return await audio_response(request, plan, stream=body.stream is not False)


_SVARA_SCHEMA = SvaraSpeechBody.model_json_schema()
# The route reads its body itself (JSON or multipart), so the OpenAPI document is given here.
_SVARA_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _SVARA_SCHEMA},
            "multipart/form-data": {
                "schema": {
                    **_SVARA_SCHEMA,
                    "properties": {
                        **_SVARA_SCHEMA["properties"],
                        "reference_audio": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post("/v1/text-to-speech", openapi_extra=_SVARA_BODY_DOC)
@licensed("tts")
async def svara_speech(request: Request) -> Response:
    """Svara-style speech, with the Svara authors' defaults (streamed 24 kHz PCM); sampling fields
    reach backends driven by a language model; reference_audio + reference_transcript clone a voice."""
    body, upload = await _svara_body(request)
    meter(request, body.text)
    fmt = body.response_format or ("pcm" if body.stream else "wav")
    rate = body.sample_rate or (PCM_DEFAULT_RATE if fmt.lower() == "pcm" else None)
    plan = speech_service(request).prepare(
        SpeechRequest(
            text=body.text,
            voice_id=body.voice,
            format=fmt,
            sample_rate=rate,
            speed=body.speed,
            sampling=body.sampling(),
            request_id=getattr(request.state, "request_id", ""),
            reference=await _reference(body, upload),
            lexicon=body.lexicon,
        ),
        text_param="text",
    )
    return await audio_response(request, plan, stream=body.stream)


@router.post("/v1/speak")
@licensed("tts")
async def smallest_speak(body: SmallestSpeakBody, request: Request) -> Response:
    """Smallest-style speech: the whole file. For wav/pcm, `add_wav_header` picks which of the two."""
    meter(request, body.text)
    fmt = body.output_format.lower()
    if fmt in ("wav", "pcm"):
        fmt = "wav" if body.add_wav_header else "pcm"
    plan = speech_service(request).prepare(
        SpeechRequest(
            text=body.text,
            voice_id=body.voice_id,
            format=fmt,
            sample_rate=body.sample_rate,
            speed=body.speed,
            request_id=getattr(request.state, "request_id", ""),
            lexicon=body.lexicon,
        ),
        text_param="text",
        format_param="output_format",
    )
    return await audio_response(request, plan, stream=False)


@router.get("/v1/voices")
@licensed("tts")
async def voices(request: Request) -> dict[str, object]:
    """Every voice of every backend, with whether it can speak right now, and the voice each alias
    (OpenAI's alloy, nova, …) resolves to now."""
    catalog = speech_service(request).catalog
    return {
        "voices": [entry.as_dict() for entry in catalog.entries()],
        "default_voice": catalog.default_voice,
        "aliases": catalog.alias_map(),
    }
