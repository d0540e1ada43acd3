"""The Svara SDK's (ElevenLabs-style) routes beyond `/v1/audio/speech`:

- `WS /v1/audio/speech/stream-input`: the `/v1/speak/stream` session under the SDK's query names
  (`voice`, `response_format`, `lang`, sampling fields); its type-less frames (`{"text"}`,
  `{"flush": true}`, `{"text": ""}` to end) are understood by that session itself.
- `POST /v1/text-to-speech/{voice}/with-timestamps`: the audio as base64 with character timings.
  Each sentence is synthesised in turn and timed by the audio it produced; its characters are spread
  evenly over that time (sentence-accurate, character-approximate, as the SDK documents).
The SDK's default rate is 24 kHz for every format.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from app.audio.encode import finalize_wav
from app.errors import InvalidParameter, UpstreamUnavailable, as_appliance_error
from app.licensing import licensed
from app.services.speech import SpeechRequest
from app.services.speech_session import SpeechSession
from tts_engine.text.split import split_sentences

from .speak_stream import serve_speak_stream
from .speech import meter, speech_service

router = APIRouter(tags=["text-to-speech"])

SVARA_RATE = "24000"
_SAMPLING = ("temperature", "top_p", "top_k", "repetition_penalty", "max_tokens", "seed")


@router.websocket("/v1/audio/speech/stream-input")
@licensed("tts", "streaming")
async def stream_input(websocket: WebSocket) -> None:
    query = websocket.query_params
    translated = {
        "voice_id": query.get("voice", ""),
        "output_format": query.get("response_format", "pcm"),
        "sample_rate": query.get("sample_rate", SVARA_RATE),
        **{name: query[name] for name in ("speed", *_SAMPLING) if name in query},
    }
    await serve_speak_stream(websocket, translated)


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    speed: float | None = None


class TimestampsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str
    model_id: str | None = None
    language_code: str | None = None
    voice_settings: VoiceSettings | None = None


def _output_format(value: str) -> tuple[str, int]:
    """ElevenLabs' `<format>_<rate>[_<kbps>]`, e.g. `mp3_44100_128`, `pcm_24000`."""
    name, _, rest = value.partition("_")
    rate = rest.partition("_")[0] or SVARA_RATE
    if not rate.isdigit():
        raise InvalidParameter(
            f"output_format {value!r} must look like mp3_44100 or pcm_24000", param="output_format"
        )
    return name, int(rate)


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


@router.post("/v1/text-to-speech/{voice}/with-timestamps")
@licensed("tts")
async def with_timestamps(
    voice: str, body: TimestampsBody, request: Request, output_format: str = "mp3_44100_128"
) -> JSONResponse:
    meter(request, body.text)
    service = speech_service(request)
    fmt, rate = _output_format(output_format)
    speed = body.voice_settings.speed if body.voice_settings and body.voice_settings.speed else 1.0
    plan = service.prepare(
        SpeechRequest(
            text=body.text, voice_id=voice, format=fmt, sample_rate=rate, speed=speed,
            request_id=getattr(request.state, "request_id", ""),
        ),
        text_param="text",
        format_param="output_format",
    )
    session = SpeechSession(service, plan)
    audio: list[bytes] = []
    characters: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    try:
        for span in _spans(body.text):
            start = session.audio_seconds
            if span.strip():
                audio += [data async for data in session.speak(span.strip())]
            end = session.audio_seconds
            step = (end - start) / len(span)
            for index, character in enumerate(span):
                characters.append(character)
                starts.append(round(start + step * index, 4))
                ends.append(round(start + step * (index + 1), 4))
        audio.append(session.finish())
    except Exception as exc:
        raise as_appliance_error(exc, UpstreamUnavailable("synthesis failed")) from exc
    finally:
        session.close()
        request.state.audio_seconds = session.audio_seconds  # usage metering reads this
    data = b"".join(audio)
    if plan.format.name == "wav":
        data = finalize_wav(data)
    alignment: dict[str, Any] = {
        "characters": characters,
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    }
    return JSONResponse(
        {"audio_base64": base64.b64encode(data).decode(), "alignment": alignment, "normalized_alignment": None},
        headers={"X-Sample-Rate": str(plan.sample_rate), "X-Voice": plan.voice.id},
    )
