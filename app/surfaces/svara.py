"""The Svara surface, as the Svara authors' server and SDK (ElevenLabs-style) call it:

- `POST /v1/text-to-speech`: streamed 24 kHz PCM by default; sampling fields; cloning from
  `reference_audio` + `reference_transcript`, in JSON (base64) or multipart (a file part).
- `WS /v1/audio/speech/stream-input`: the native speech socket under the SDK's query names (`voice`,
  `response_format`, `lang`, sampling fields); the SDK's type-less frames are native frames too.
- `POST /v1/text-to-speech/{voice}/with-timestamps`: the audio as base64 with character timings;
  `.../stream/with-timestamps`: the same as one JSON line per sentence. Each sentence is timed by the
  audio it produced and its characters spread evenly over that time (sentence-accurate,
  character-approximate, as the SDK documents).
The SDK's default rate is 24 kHz for every format (`POST /v1/audio/speech` is the OpenAI surface's).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from app import limits
from app.audio.encode import finalize_wav
from app.errors import InvalidParameter
from app.licensing import licensed
from app.services.speech import SpeechPlan, SpeechRequest
from app.sessions.bodies import Body, takes
from app.sessions.fields import CloningFields, LexiconFields, SamplingFields
from app.sessions.sockets import query_number, query_sampling
from app.sessions.speech import Frames, SpeechSessions, audio_headers, failure, framed_response
from app.sessions.speech_socket import NativeWire, serve_speech_socket
from tts_engine.text.split import split_sentences

router = APIRouter(tags=["text-to-speech"])


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


_SCHEMA = SvaraSpeechBody.model_json_schema()
_FILE = {"reference_audio": {"type": "string", "format": "binary"}}
_MULTIPART = {**_SCHEMA, "properties": {**_SCHEMA["properties"], **_FILE}}
# The route reads its body itself (JSON or multipart), so the OpenAPI document is given here.
_BODY_DOC = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _SCHEMA}, "multipart/form-data": {"schema": _MULTIPART},
}}}


async def _body(request: Request) -> tuple[SvaraSpeechBody, bytes | None]:
    """The body as JSON (reference_audio in base64) or multipart (reference_audio as a file)."""
    try:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return SvaraSpeechBody.model_validate_json(await request.body()), None
        upload, fields = None, {}
        for key, value in (await request.form()).multi_items():
            if not isinstance(value, UploadFile):
                fields[key] = value
            elif key == "reference_audio":
                upload = await value.read()
            else:
                raise InvalidParameter(f"unexpected file part {key!r}", param=key)
        return SvaraSpeechBody.model_validate(fields), upload
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.post("/v1/text-to-speech", openapi_extra=_BODY_DOC)
@licensed("tts")
@takes(Body.REFERENCE)
async def text_to_speech(request: Request) -> Response:
    """Svara-style speech, with the Svara authors' defaults (streamed 24 kHz PCM); sampling fields
    reach backends driven by a language model; reference_audio + reference_transcript clone a voice."""
    sessions: SpeechSessions = request.app.state.speech
    body, upload = await _body(request)
    fmt = body.response_format or ("pcm" if body.stream else "wav")
    rate = body.sample_rate or (limits.PCM_RATE if fmt.lower() == "pcm" else None)
    speech = SpeechRequest(
        text=body.text, voice_id=body.voice, format=fmt, sample_rate=rate, speed=body.speed,
        sampling=body.sampling(), request_id=getattr(request.state, "request_id", ""), lexicon=body.lexicon,
    )
    plan = await sessions.plan(request, speech, text_param="text", reference=body.reference(upload))
    return await sessions.audio_response(request, plan, stream=body.stream)


@router.websocket("/v1/audio/speech/stream-input")
@licensed("tts", "streaming")
async def stream_input(websocket: WebSocket) -> None:
    query = websocket.query_params

    def request() -> SpeechRequest:
        return SpeechRequest(
            text="",
            voice_id=query.get("voice", ""),
            format=query.get("response_format", "pcm"),
            sample_rate=query_number(query, "sample_rate", int) if "sample_rate" in query else limits.PCM_RATE,
            speed=_default(query_number(query, "speed", float), 1.0),
            sampling=query_sampling(query),
            request_id=getattr(websocket.state, "request_id", ""),
        )

    await serve_speech_socket(websocket, websocket.app.state.speech, NativeWire(), request)


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    speed: float | None = None


class TimestampsBody(LexiconFields):
    model_config = ConfigDict(extra="ignore")
    text: str
    model_id: str | None = None
    language_code: str | None = None
    voice_settings: VoiceSettings | None = None


@dataclass
class _Timed:
    """Audio and the timings of the characters it speaks (seconds from the start of the clip)."""

    audio: bytes
    characters: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        alignment = {"characters": self.characters, "character_start_times_seconds": self.starts,
                     "character_end_times_seconds": self.ends}
        return {"audio_base64": base64.b64encode(self.audio).decode(), "alignment": alignment,
                "normalized_alignment": None}


async def _plan(voice: str, body: TimestampsBody, request: Request, output_format: str) -> SpeechPlan:
    """ElevenLabs' `output_format`, `<format>_<rate>[_<kbps>]` (e.g. `mp3_44100_128`, `pcm_24000`)."""
    name, _, rest = output_format.partition("_")
    rate = rest.partition("_")[0] or str(limits.PCM_RATE)
    if not rate.isdigit():
        raise InvalidParameter(f"output_format {output_format!r} must look like mp3_44100 or pcm_24000",
                               param="output_format")
    speed = body.voice_settings.speed if body.voice_settings and body.voice_settings.speed else 1.0
    speech = SpeechRequest(text=body.text, voice_id=voice, format=name, sample_rate=int(rate), speed=speed,
                           request_id=getattr(request.state, "request_id", ""), lexicon=body.lexicon)
    return await request.app.state.speech.plan(request, speech, text_param="text", format_param="output_format")


def _spans(text: str) -> list[str]:
    """The text cut at sentence ends, every character kept (spaces go with the sentence after)."""
    spans, cursor = [], 0
    for sentence in split_sentences(text):
        end = text.find(sentence, cursor)
        if end < 0:  # the splitter changed the sentence: time the whole text as one
            return [text]
        spans.append(text[cursor : end + len(sentence)])
        cursor = end + len(sentence)
    if spans:
        spans[-1] += text[cursor:]
    return spans or [text]


async def _timed(request: Request, plan: SpeechPlan, text: str) -> AsyncIterator[_Timed]:
    """Each sentence's audio with its characters spread over the time that audio lasts; the last
    piece also carries the end of the stream (the encoder's tail)."""
    session = request.app.state.speech.session(request, plan)
    try:
        for span in _spans(text):
            start = session.audio_seconds
            audio = b"".join([data async for data in session.speak(span.strip())]) if span.strip() else b""
            step = (session.audio_seconds - start) / len(span)
            yield _Timed(audio, list(span), [round(start + step * i, 4) for i in range(len(span))],
                         [round(start + step * (i + 1), 4) for i in range(len(span))])
        if tail := session.finish():
            yield _Timed(tail)
    finally:
        session.close()


@router.post("/v1/text-to-speech/{voice}/with-timestamps")
@licensed("tts")
async def with_timestamps(
    voice: str, body: TimestampsBody, request: Request, output_format: str = "mp3_44100_128"
) -> JSONResponse:
    plan = await _plan(voice, body, request, output_format)
    whole = _Timed(b"")
    try:
        async for piece in _timed(request, plan, body.text):
            whole.audio += piece.audio
            whole.characters += piece.characters
            whole.starts += piece.starts
            whole.ends += piece.ends
    except Exception as exc:
        raise failure(exc, started=False, backend=plan.backend.name) from exc
    if plan.format.name == "wav":
        whole.audio = finalize_wav(whole.audio)
    return JSONResponse(whole.body(), headers=audio_headers(plan))


@router.post("/v1/text-to-speech/{voice}/stream/with-timestamps")
@licensed("tts")
async def stream_with_timestamps(
    voice: str, body: TimestampsBody, request: Request, output_format: str = f"pcm_{limits.PCM_RATE}"
) -> Response:
    """One JSON line per sentence: its audio and the timings of its characters."""
    plan = await _plan(voice, body, request, output_format)
    frames = Frames[_Timed](item=lambda piece: json.dumps(piece.body()) + "\n",
                            error=lambda error: json.dumps(error.body()) + "\n")
    return await framed_response(_timed(request, plan, body.text), frames, "application/x-ndjson",
                                 audio_headers(plan), plan.backend.name)
