"""The appliance's own surface: the voice catalogue, what a voice will read (text normalization),
and the streaming protocols that are its own (the native speech socket of
app/sessions/speech_socket.py, the listen stream of app/sessions/transcription.py), exposed as they are."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from app.errors import InvalidParameter
from app.licensing import licensed
from app.services.speech import SpeechRequest, SpeechService, request_lexicon
from app.sessions.fields import LexiconFields
from app.sessions.sockets import query_number, query_sampling
from app.sessions.speech import SpeechSessions
from app.sessions.speech_socket import NativeWire, serve_speech_socket
from tts_engine.text import LANGUAGES, language_for

router = APIRouter()


@router.get("/v1/voices", tags=["text-to-speech"])
@licensed("tts")
async def voices(request: Request) -> dict[str, object]:
    """Every voice of every backend, with whether it can speak right now, and the voice each alias
    (OpenAI's alloy, nova, …) resolves to now."""
    catalog = request.app.state.speech.service.catalog
    return {
        "voices": [entry.as_dict() for entry in catalog.entries()],
        "default_voice": catalog.default_voice,
        "aliases": catalog.alias_map(),
    }


class NormalizeBody(LexiconFields):
    model_config = ConfigDict(extra="ignore")
    text: str
    voice: str | None = Field(None, description="Read as this voice reads (its language); default: the default voice.")
    language: str | None = Field(None, description="Or read in this language (e.g. hi, ta, en), without a voice.")


class NormalizedText(BaseModel):
    text: str = Field(description="What the voice will read.")
    language: str = Field(description="The language it was read in.")


@router.post("/v1/text/normalize", tags=["text-to-speech"])
@licensed("tts")
async def normalize(body: NormalizeBody, request: Request) -> NormalizedText:
    """The text a voice will read, after the lexicons and the reading of numbers, money, dates and
    times in its language: the same `SpeechService.read` as every TTS surface."""
    service: SpeechService = request.app.state.speech.service
    service.check_text(body.text, "text")
    if body.voice is not None and body.language is not None:
        raise InvalidParameter("give voice or language, not both", param="language")
    if body.language is not None:
        lang = language_for(body.language)
        if lang is None:
            raise InvalidParameter(
                f"unknown language {body.language!r}; use one of: {', '.join(sorted(LANGUAGES))}",
                param="language",
            )
        language = lang.code
    else:
        voice, _ = service.find_voice(body.voice)  # a voice not ready to speak still reads the same way
        language = voice.language
    return NormalizedText(text=service.read(body.text, language, request_lexicon(body.lexicon)), language=language)


@router.websocket("/v1/speak/stream")
@licensed("tts", "streaming")
async def speak_stream(websocket: WebSocket) -> None:
    """Text in as it is written (an LLM's output), audio out sentence by sentence. Query: voice_id,
    output_format (default pcm), sample_rate, speed and the sampling fields of /v1/text-to-speech."""
    sessions: SpeechSessions = websocket.app.state.speech
    query = websocket.query_params

    def request() -> SpeechRequest:
        speed = query_number(query, "speed", float)
        return SpeechRequest(
            text="",
            voice_id=query.get("voice_id"),
            format=query.get("output_format", "pcm"),
            sample_rate=query_number(query, "sample_rate", int),
            speed=1.0 if speed is None else speed,
            sampling=query_sampling(query),
            request_id=getattr(websocket.state, "request_id", ""),
        )

    await serve_speech_socket(websocket, sessions, NativeWire(), request)


@router.websocket("/v1/listen/stream")
@licensed("asr", "streaming")
async def listen_stream(websocket: WebSocket) -> None:
    """Streaming transcription: binary PCM16 in, partial and final transcripts out."""
    await websocket.app.state.transcription.serve_stream(websocket)
