"""Smallest Waves v1, as the `smallestai` SDK (5.x) calls it: its paths, field names and answer shapes
over the same speech and transcription services as every other surface.

- `POST /waves/v1/tts`: the whole file (`output_format` pcm by default, as Waves does).
- `POST /waves/v1/tts/live`: SSE, `event: audio` / `data: {"audio": <base64>}` ..., then `{"done": true}`.
- `WS /waves/v1/tts/live`: JSON requests `{voice_id, text, continue, flush, sample_rate, speed}`;
  answers `{"status": "chunk", "data": {"audio": <base64>}}` ... `{"status": "complete"}`, then a close.
- `POST /waves/v1/stt/`: raw audio body; `{"status": "success", "transcription", "words", ...}`.
- `WS /waves/v1/stt/live`: the `/v1/listen/stream` session, each message typed `transcription`.
Waves' default rate is 24 kHz; `sample_rate` changes it. Errors keep the one JSON shape; WebSocket
error frames also carry Waves' `status: "error"` and `message`, which the SDK reads.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, ValidationError

from app.errors import InvalidParameter, as_appliance_error
from app.licensing import licensed
from app.services.speech import SpeechPlan, SpeechRequest, SpeechService
from app.services.speech_session import SentenceBuffer, SpeechSession
from common import ws_errors

from .listen import serve_stream, transcribe_upload
from .speech import audio_response, meter, speech_service, sse
from .text import LexiconFields

router = APIRouter(tags=["waves"])

WAVES_RATE = 24000  # the rate Waves answers with when a request names none


class WavesSpeech(LexiconFields):
    """The fields of a Waves TTS request this appliance honours (others, e.g. `model`, are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    text: str
    voice_id: str
    sample_rate: int | None = None
    speed: float | None = None
    language: str | None = None
    output_format: str = "pcm"
    continue_: bool = Field(False, alias="continue")
    flush: bool = False

    def request(self, text: str, request_id: str) -> SpeechRequest:
        return SpeechRequest(
            text=text,
            voice_id=self.voice_id,
            format=self.output_format,
            sample_rate=self.sample_rate or WAVES_RATE,
            speed=self.speed or 1.0,
            request_id=request_id,
            lexicon=self.lexicon,
        )


def _plan(request: Request, body: WavesSpeech) -> SpeechPlan:
    meter(request, body.text)
    return speech_service(request).prepare(
        body.request(body.text, getattr(request.state, "request_id", "")),
        text_param="text",
        format_param="output_format",
    )


@router.post("/waves/v1/tts")
@licensed("tts")
async def tts(body: WavesSpeech, request: Request) -> Response:
    return await audio_response(request, _plan(request, body), stream=False)


@router.post("/waves/v1/tts/live")
@licensed("tts")
async def tts_sse(body: WavesSpeech, request: Request) -> Response:
    return await sse(
        request,
        _plan(request, body),
        audio=lambda part: f"event: audio\ndata: {json.dumps({'audio': base64.b64encode(part).decode()})}\n\n",
        error=lambda failure: f"event: error\ndata: {json.dumps(failure.body())}\n\n",
        last=f"data: {json.dumps({'done': True})}\n\n",
    )


@router.websocket("/waves/v1/tts/live")
@licensed("tts", "streaming")
async def tts_live(websocket: WebSocket) -> None:
    service: SpeechService = websocket.app.state.speech
    settings = websocket.app.state.settings
    await websocket.accept()
    websocket.state.characters, websocket.state.audio_seconds = 0, 0.0
    request_id = uuid.uuid4().hex
    session: SpeechSession | None = None
    buffer = SentenceBuffer()

    async def speak(text: str) -> None:
        assert session is not None
        async for data in session.speak(text):
            await _chunk(websocket, request_id, data)
            websocket.state.audio_seconds = session.audio_seconds  # usage metering, as it goes

    try:
        while True:
            body = await _next_request(websocket, settings.tts_ws_idle_timeout_s)
            if body is None:
                return
            if session is None:  # the first request sets the voice, rate and speed of the stream
                session = _session(service, body, request_id)
            service.check_length(websocket.state.characters + len(body.text), "text", "open another session")
            websocket.state.characters += len(body.text)
            sentences = buffer.add(body.text)
            if body.flush or not body.continue_:
                sentences.append(buffer.take_all())
            for sentence in filter(None, sentences):
                await speak(sentence)
            if not body.continue_:  # no more input is coming: finish, say so, close
                tail = session.finish()
                if tail:
                    await _chunk(websocket, request_id, tail)
                await websocket.send_json({"status": "complete", "request_id": request_id, "data": {}})
                await websocket.close(ws_errors.NORMAL)
                return
    except (WebSocketDisconnect, _Gone):
        return
    except Exception as exc:
        error = as_appliance_error(exc)
        body_ = {**error.body(), "status": "error", "message": error.message}
        await ws_errors.send_error(websocket, body_, error.status_code)
    finally:
        if session is not None:
            session.close()


class _Gone(Exception):
    """The client disconnected."""


def _session(service: SpeechService, body: WavesSpeech, request_id: str) -> SpeechSession:
    request = body.request("", request_id)
    if body.output_format.lower() != "pcm":
        raise InvalidParameter("the live WebSocket sends pcm only", param="output_format")
    voice, backend = service.resolve_voice(request.voice_id)
    fmt, rate = service.check_output(voice, request.format, request.sample_rate, request.speed, "output_format")
    return SpeechSession(service, service.template(voice, backend, fmt, rate, request))


async def _chunk(websocket: WebSocket, request_id: str, data: bytes) -> None:
    audio = base64.b64encode(data).decode()
    await websocket.send_json({"status": "chunk", "request_id": request_id, "data": {"audio": audio}})


async def _next_request(websocket: WebSocket, idle_s: float) -> WavesSpeech | None:
    try:
        message = await asyncio.wait_for(websocket.receive(), idle_s)
    except TimeoutError:
        raise InvalidParameter(f"no message for {idle_s:g} s", param="idle") from None
    if message["type"] == "websocket.disconnect":
        raise _Gone
    if message.get("text") is None:
        raise InvalidParameter("send JSON text frames, not binary", param="message")
    try:
        return WavesSpeech.model_validate(json.loads(message["text"]))
    except ValueError as exc:  # json's and pydantic's errors alike
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        param = ".".join(str(p) for p in first["loc"]) if first else "message"
        detail = f"{param}: {first['msg']}" if first else "messages must be JSON objects"
        raise InvalidParameter(detail, param=param) from None


@router.post("/waves/v1/stt/")
@router.post("/waves/v1/stt", include_in_schema=False)
@licensed("asr")
async def stt(request: Request) -> JSONResponse:
    result = await transcribe_upload(request)
    if isinstance(result, str):  # a webhook will get it
        return JSONResponse({"status": "processing", "request_id": result})
    body: dict[str, Any] = {
        "status": "success",
        "request_id": result.request_id,
        "transcription": result.text,
        "language": result.language,
        "metadata": {"duration": result.duration},
    }
    if result.words is not None:
        body["words"] = [w.model_dump() for w in result.words]
    return JSONResponse(body)


@router.websocket("/waves/v1/stt/live")
@licensed("asr", "streaming")
async def stt_live(websocket: WebSocket) -> None:
    await serve_stream(websocket, lambda message: {"type": "transcription", **message})
