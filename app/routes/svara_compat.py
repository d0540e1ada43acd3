"""The Svara SDK's (ElevenLabs-style) routes beyond `/v1/audio/speech`:

- `WS /v1/audio/speech/stream-input`: the `/v1/speak/stream` session under the SDK's query names
  (`voice`, `response_format`, `lang`, sampling fields); its type-less frames (`{"text"}`,
  `{"flush": true}`, `{"text": ""}` to end) are understood by that session itself.
- `POST /v1/text-to-speech/{voice}/with-timestamps`: the audio as base64 with character timings;
  `.../stream/with-timestamps`: the same as one JSON line per sentence. Each sentence is
  synthesised in turn and timed by the audio it produced; its characters are spread evenly over
  that time (sentence-accurate, character-approximate, as the SDK documents).
The SDK's default rate is 24 kHz for every format.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from app.audio.encode import finalize_wav
from app.errors import ApplianceError, InvalidParameter, UpstreamUnavailable, as_appliance_error
from app.licensing import licensed
from app.services.speech import SpeechPlan, SpeechRequest
from app.services.speech_session import SpeechSession
from tts_engine.text.split import split_sentences

from .speak_stream import serve_speak_stream
from .speech import AudioStreamResponse, audio_headers, meter, speech_service
from .text import LexiconFields

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


class TimestampsBody(LexiconFields):
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


@dataclass
class _Timed:
    """Audio and the timings of the characters it speaks (seconds from the start of the clip)."""

    audio: bytes
    characters: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        alignment = {
            "characters": self.characters,
            "character_start_times_seconds": self.starts,
            "character_end_times_seconds": self.ends,
        }
        return {"audio_base64": base64.b64encode(self.audio).decode(), "alignment": alignment,
                "normalized_alignment": None}


def _plan(voice: str, body: TimestampsBody, request: Request, output_format: str) -> SpeechPlan:
    meter(request, body.text)
    fmt, rate = _output_format(output_format)
    speed = body.voice_settings.speed if body.voice_settings and body.voice_settings.speed else 1.0
    return speech_service(request).prepare(
        SpeechRequest(
            text=body.text, voice_id=voice, format=fmt, sample_rate=rate, speed=speed,
            request_id=getattr(request.state, "request_id", ""), lexicon=body.lexicon,
        ),
        text_param="text",
        format_param="output_format",
    )


async def _timed(request: Request, plan: SpeechPlan, text: str) -> AsyncIterator[_Timed]:
    """Each sentence's audio with its characters spread over the time that audio lasts; the last
    piece also carries the end of the stream (the encoder's tail)."""
    session = SpeechSession(speech_service(request), plan)
    try:
        for span in _spans(text):
            start = session.audio_seconds
            audio = b"".join([data async for data in session.speak(span.strip())]) if span.strip() else b""
            step = (session.audio_seconds - start) / len(span)
            piece = _Timed(audio, list(span))
            piece.starts = [round(start + step * i, 4) for i in range(len(span))]
            piece.ends = [round(start + step * (i + 1), 4) for i in range(len(span))]
            request.state.audio_seconds = session.audio_seconds  # usage metering reads this
            yield piece
        tail = session.finish()
        if tail:
            yield _Timed(tail)
    finally:
        session.close()


def _failure(exc: Exception) -> ApplianceError:
    return as_appliance_error(exc, UpstreamUnavailable("synthesis failed"))


@router.post("/v1/text-to-speech/{voice}/with-timestamps")
@licensed("tts")
async def with_timestamps(
    voice: str, body: TimestampsBody, request: Request, output_format: str = "mp3_44100_128"
) -> JSONResponse:
    plan = _plan(voice, body, request, output_format)
    whole = _Timed(b"")
    try:
        async for piece in _timed(request, plan, body.text):
            whole.audio += piece.audio
            whole.characters += piece.characters
            whole.starts += piece.starts
            whole.ends += piece.ends
    except Exception as exc:
        raise _failure(exc) from exc
    if plan.format.name == "wav":
        whole.audio = finalize_wav(whole.audio)
    return JSONResponse(whole.body(), headers=audio_headers(plan))


@router.post("/v1/text-to-speech/{voice}/stream/with-timestamps")
@licensed("tts")
async def stream_with_timestamps(
    voice: str, body: TimestampsBody, request: Request, output_format: str = "pcm_24000"
) -> Response:
    """One JSON line per sentence: its audio and the timings of its characters. The first sentence
    is synthesised before the response starts, so a failure there is still a clean error."""
    plan = _plan(voice, body, request, output_format)
    pieces = _timed(request, plan, body.text)
    try:
        first = await anext(pieces)
    except Exception as exc:
        await pieces.aclose()  # type: ignore[attr-defined]
        raise _failure(exc) from exc

    async def lines() -> AsyncIterator[str]:
        try:
            yield json.dumps(first.body()) + "\n"
            async for piece in pieces:
                yield json.dumps(piece.body()) + "\n"
        except Exception as exc:  # headers are gone: a last line carries the error
            yield json.dumps(_failure(exc).body()) + "\n"
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]

    return AudioStreamResponse(lines(), media_type="application/x-ndjson", headers=audio_headers(plan))
