"""OpenAI-compatible speech-to-text: POST /v1/audio/transcriptions (multipart)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from app.errors import InvalidParameter
from app.licensing import licensed
from app.services.subtitles import to_srt, to_vtt
from app.services.transcription import TranscriptionRequest, TranscriptionService

from .uploads import read_upload

router = APIRouter(tags=["speech-to-text"])


class TranscriptionForm(BaseModel):
    """The form fields OpenAI's API defines that this engine honours."""

    model_config = {"extra": "forbid"}

    model: str = Field(min_length=1)
    language: str | None = None
    prompt: str | None = None
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    response_format: Literal["json", "text", "srt", "vtt", "verbose_json"] = "json"
    granularities: list[Literal["word", "segment"]] = Field([], alias="timestamp_granularities[]")
    stream: Literal["false"] = "false"  # streamed transcription is not offered


@router.post("/v1/audio/transcriptions")
@licensed("asr")
async def transcriptions(request: Request) -> Response:
    service: TranscriptionService = request.app.state.transcription
    settings = request.app.state.settings
    service.check_ready()
    upload = await read_upload(
        request, file_fields=("file",), max_bytes=settings.max_upload_bytes, allow_raw=False
    )
    form = _form(upload.fields)
    if form.granularities and form.response_format != "verbose_json":
        raise InvalidParameter(
            "timestamp_granularities[] needs response_format=verbose_json", param="timestamp_granularities[]"
        )
    service.check_language(form.language)
    audio = await service.decode(upload.data)
    request.state.audio_seconds = audio.duration  # usage metering reads this
    want_words = "word" in form.granularities
    transcript = await service.transcribe(
        TranscriptionRequest(
            audio=audio,
            language=form.language or None,
            word_timestamps=want_words,
            prompt=form.prompt,
            temperature=form.temperature,
        )
    )
    headers = {"x-transcription-id": transcript.request_id}
    if form.response_format == "text":
        return PlainTextResponse(transcript.text, headers=headers)
    if form.response_format == "srt":
        return PlainTextResponse(to_srt(transcript.segments), headers=headers)
    if form.response_format == "vtt":
        return PlainTextResponse(to_vtt(transcript.segments), media_type="text/vtt", headers=headers)
    if form.response_format == "json":
        return JSONResponse({"text": transcript.text}, headers=headers)
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": transcript.language,
        "duration": transcript.duration,
        "text": transcript.text,
    }
    if not form.granularities or "segment" in form.granularities:
        body["segments"] = [s.model_dump() for s in transcript.segments]
    if want_words:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words or []]
    return JSONResponse(body, headers=headers)


def _form(fields: dict[str, list[str]]) -> TranscriptionForm:
    data: dict[str, Any] = {k: v[-1] for k, v in fields.items()}
    if "timestamp_granularities[]" in fields:
        data["timestamp_granularities[]"] = fields["timestamp_granularities[]"]
    if "model" not in data:
        raise InvalidParameter("model is required (any name: this service runs one model)", param="model")
    try:
        return TranscriptionForm.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise InvalidParameter(
                f"{param} is not supported by this speech-to-text engine", param=param
            ) from None
        raise InvalidParameter(f"{param}: {first['msg']}", param=param) from None
