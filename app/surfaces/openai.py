"""The OpenAI surface: `POST /v1/audio/speech`, `POST /v1/audio/transcriptions`, `GET /v1/models`.

Its field names and answer shapes only; the speech and transcription sessions do the rest. The
Svara SDK calls `/v1/audio/speech` too, with its `stream`, `sample_rate`, `lang`, sampling and
cloning fields, which are taken here.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app import limits
from app.errors import InvalidParameter
from app.licensing import licensed
from app.services.speech import SpeechRequest
from app.services.subtitles import to_srt, to_vtt
from app.services.transcription import Transcript, TranscriptionRequest
from app.sessions.bodies import Body, takes
from app.sessions.fields import CloningFields, LexiconFields, SamplingFields
from app.sessions.speech import Frames, SpeechSessions
from app.sessions.transcription import TranscriptionSessions, language_of, read_features

router = APIRouter()

TTS_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
STT_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize")


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


class TranscriptionForm(BaseModel):
    """The form fields OpenAI's API defines that this engine honours."""

    model_config = {"extra": "forbid"}

    model: str = Field(min_length=1)
    language: str | None = None
    prompt: str | None = None
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    response_format: Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"] = "json"
    granularities: list[Literal["word", "segment"]] = Field([], alias="timestamp_granularities[]")
    keywords: list[str] = Field([], alias="keywords[]", description="names and terms to expect")
    chunking_strategy: str | None = Field(None, description="accepted: long audio is always cut at pauses")
    stream: Literal["false"] = "false"  # streamed transcription is not offered
    # The appliance's extensions (the SDK's extra_body), by their /v1/listen names: speaker-count
    # hints for diarized_json, and redaction. The session layer reads and checks them.
    num_speakers: str | None = None
    min_speakers: str | None = None
    max_speakers: str | None = None
    redact_pii: str | None = None
    redact_pci: str | None = None
    redact: str | None = None


def _event(event: dict[str, object]) -> str:
    return f"data: {json.dumps(event)}\n\n"


@router.post("/v1/audio/speech", tags=["text-to-speech"])
@licensed("tts")
@takes(Body.REFERENCE)
async def speech(body: OpenAISpeechBody, request: Request) -> Response:
    """OpenAI-compatible speech: streamed (chunked), as SSE with `stream_format=sse`, or the whole
    file with `stream=false` (Svara SDK). `pcm` is 24 kHz unless `sample_rate` says otherwise."""
    sessions: SpeechSessions = request.app.state.speech
    rate = body.sample_rate or (limits.PCM_RATE if body.response_format.lower() == "pcm" else None)
    plan = await sessions.plan(
        request,
        SpeechRequest(
            text=body.input, voice_id=body.voice, format=body.response_format, sample_rate=rate,
            speed=body.speed, sampling=body.sampling(), request_id=getattr(request.state, "request_id", ""),
            lexicon=body.lexicon,
        ),
        reference=body.reference(),
    )
    if body.stream_format == "sse":
        usage = {"input_tokens": plan.characters, "output_tokens": 0, "total_tokens": plan.characters}
        frames = Frames[bytes](
            item=lambda part: _event({"type": "speech.audio.delta", "audio": base64.b64encode(part).decode()}),
            error=lambda failure: _event({"type": "error", **failure.body()}),
            last=_event({"type": "speech.audio.done", "usage": usage}),
        )
        return await sessions.framed_audio(request, plan, frames, "text/event-stream")
    return await sessions.audio_response(request, plan, stream=body.stream is not False)


@router.post("/v1/audio/transcriptions", tags=["speech-to-text"])
@licensed("asr")
@takes(Body.UPLOAD)
async def transcriptions(request: Request) -> Response:
    sessions: TranscriptionSessions = request.app.state.transcription
    upload = await sessions.upload(request, file_fields=("file",), allow_raw=False)
    form = _form(upload.fields)
    if form.granularities and form.response_format != "verbose_json":
        raise InvalidParameter(
            "timestamp_granularities[] needs response_format=verbose_json", param="timestamp_granularities[]"
        )
    language = language_of(form.language)
    sessions.service.check_language(language)
    want_words = "word" in form.granularities
    diarized = form.response_format == "diarized_json"  # speaker labels: any model name, this format
    features = read_features(lambda name: upload.fields.get("keywords[]" if name == "keywords" else name, []))
    options = TranscriptionRequest(
        language=language, word_timestamps=want_words, prompt=form.prompt, temperature=form.temperature,
        features=replace(features, diarize=diarized),
    )
    transcript = await sessions.transcribe(request, upload.data, options)
    assert not isinstance(transcript, str)  # no callback: the transcript itself
    headers = {"x-transcription-id": transcript.request_id}
    if form.response_format == "text":
        return PlainTextResponse(transcript.text, headers=headers)
    if form.response_format == "srt":
        return PlainTextResponse(to_srt(transcript.segments), headers=headers)
    if form.response_format == "vtt":
        return PlainTextResponse(to_vtt(transcript.segments), media_type="text/vtt", headers=headers)
    if form.response_format == "json":
        return JSONResponse({"text": transcript.text}, headers=headers)
    if diarized:
        return JSONResponse(_diarized(transcript), headers=headers)
    body: dict[str, Any] = {
        "task": "transcribe", "language": transcript.language, "language_probability": transcript.language_probability,
        "duration": transcript.duration, "text": transcript.text,
    }
    if not form.granularities or "segment" in form.granularities:
        body["segments"] = [s.model_dump(exclude_none=True) for s in transcript.segments]
    if want_words:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words or []]
    return JSONResponse(body, headers=headers)


def _diarized(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's `diarized_json`: segments cut where the speaker changes, speakers named A, B, …"""
    segments = [
        {"type": "transcript.text.segment", "id": f"seg_{s.id}", "start": s.start, "end": s.end, "text": s.text,
         "speaker": chr(ord("A") + (s.speaker or 0))}  # at most MAX_SPEAKERS (20) speakers
        for s in transcript.segments
    ]
    return {"task": "transcribe", "duration": transcript.duration, "text": transcript.text, "segments": segments,
            "usage": {"type": "duration", "seconds": transcript.duration}}


def _form(fields: dict[str, list[str]]) -> TranscriptionForm:
    data: dict[str, Any] = {k: v[-1] for k, v in fields.items()}
    for repeated in ("timestamp_granularities[]", "keywords[]"):
        if repeated in fields:
            data[repeated] = fields[repeated]
    if "model" not in data:
        raise InvalidParameter("model is required (any name: this service runs one model)", param="model")
    try:
        return TranscriptionForm.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise InvalidParameter(f"{param} is not supported by this speech-to-text engine", param=param) from None
        raise InvalidParameter(f"{param}: {first['msg']}", param=param) from None


def _model(model_id: str, kind: str, served_by: str | None) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "speech-appliance",
            "kind": kind, "served_by": served_by}


@router.get("/v1/models", tags=["models"])
@licensed()  # a catalogue: any valid license, whichever features it has
async def models(request: Request) -> dict[str, object]:
    """The model names this appliance answers to (clients pick one before they send anything): the
    TTS names are aliases of the voice catalogue, the STT names all run the one loaded Whisper model."""
    state = request.app.state
    asr_model = state.components.get("asr").detail.get("model")
    tts: list[dict[str, object]] = [_model(name, "tts", "voices") for name in TTS_MODELS]
    if state.settings.svara_enabled:
        tts.append(_model(state.settings.vllm_served_model_name, "tts", "svara"))
    stt = [_model(name, "stt", asr_model) for name in STT_MODELS]
    return {"object": "list", "data": tts + stt}
