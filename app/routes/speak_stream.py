"""WS /v1/speak/stream: text in as it is written (an LLM's output), audio out sentence by sentence.

Query: voice_id, output_format (default pcm), sample_rate, speed and the sampling fields of
POST /v1/text-to-speech (temperature, top_p, ...) — checked before anything else.
Client -> server (JSON text frames):
  {"type": "text", "text": "..."}   more text; every sentence is spoken as soon as it is complete
  {"type": "flush"}                 speak what is buffered now, even without a sentence end
  {"type": "close"}                 speak the rest, finish the stream, then the server closes
Server -> client: {"type": "ready", ...}, binary audio frames, {"type": "flushed", ...} after a
flush, {"type": "done", ...} at the end, or an error frame and a close (app.ws_errors: the README's
WebSocket error table).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from app import bounds
from app.errors import ApplianceError, InvalidParameter, as_appliance_error
from app.licensing import licensed
from app.services.speech import SpeechRequest, SpeechService
from app.services.speech_session import SentenceBuffer, SpeechSession
from app.ws_errors import send_error
from tts_engine.base import SAMPLING_BOUNDS, SamplingParams

router = APIRouter(tags=["text-to-speech"])
log = logging.getLogger(__name__)

_FLUSH = object()  # queue markers between the receiver and the speaker
_END = object()


class _Gone(Exception):
    """The client disconnected."""


def _number(raw: str | None, kind: type, name: str) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number", param=name) from None


def _sampling(query: Mapping[str, str]) -> SamplingParams:
    """The sampling fields of the query, held to the same SAMPLING_BOUNDS as the HTTP bodies."""
    values: dict[str, Any] = {}
    for spec in fields(SamplingParams):
        kind = int if "int" in str(spec.type) else float
        value = _number(query.get(spec.name), kind, spec.name)
        if value is not None:
            bounds.check(value, SAMPLING_BOUNDS[spec.name], spec.name)
        values[spec.name] = value
    return SamplingParams(**values)


async def _speaker(ws: WebSocket, session: SpeechSession, queue: asyncio.Queue[object]) -> None:
    while True:
        item = await queue.get()
        if item is _FLUSH:
            await ws.send_json({"type": "flushed", "audio_seconds": round(session.audio_seconds, 3)})
        elif item is _END:
            tail = session.finish()
            if tail:
                await ws.send_bytes(tail)
            seconds = round(session.audio_seconds, 3)
            await ws.send_json({"type": "done", "characters": ws.state.characters, "audio_seconds": seconds})
            return
        else:
            async for data in session.speak(str(item)):
                await ws.send_bytes(data)
                ws.state.audio_seconds = session.audio_seconds  # usage metering, as it goes


async def _receive(ws: WebSocket, speaker: asyncio.Task[None], timeout_s: float) -> dict[str, Any] | None:
    """The next client message as a dict, or None once the speaker has finished (or failed)."""
    receiving = asyncio.ensure_future(ws.receive())
    done, _ = await asyncio.wait({receiving, speaker}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if receiving not in done:
        receiving.cancel()
        if speaker in done:
            return None
        raise InvalidParameter(f"no message for {timeout_s:g} s: send text, flush or close", param="idle")
    message = receiving.result()
    if message["type"] == "websocket.disconnect":
        raise _Gone
    if message.get("text") is None:
        raise InvalidParameter("send JSON text frames, not binary", param="message")
    try:
        parsed = json.loads(message["text"])
    except ValueError:
        raise InvalidParameter("messages must be JSON objects", param="message") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter("messages must be JSON objects", param="message")
    return parsed


@router.websocket("/v1/speak/stream")
@licensed("tts", "streaming")
async def speak_stream(ws: WebSocket) -> None:
    service: SpeechService = ws.app.state.speech
    settings = ws.app.state.settings
    await ws.accept()
    ws.state.characters, ws.state.audio_seconds = 0, 0.0
    query = ws.query_params
    try:
        request = SpeechRequest(
            text="",
            voice_id=query.get("voice_id"),
            format=query.get("output_format", "pcm"),
            sample_rate=_number(query.get("sample_rate"), int, "sample_rate"),
            speed=_speed if (_speed := _number(query.get("speed"), float, "speed")) is not None else 1.0,
            sampling=_sampling(query),
            request_id=getattr(ws.state, "request_id", ""),
        )
        voice, backend = service.resolve_voice(request.voice_id)
        fmt, rate = service.check_output(
            voice, request.format, request.sample_rate, request.speed, "output_format"
        )
    except ApplianceError as exc:
        await send_error(ws, exc)
        return
    session = SpeechSession(service, service.template(voice, backend, fmt, rate, request))
    await ws.send_json(
        {"type": "ready", "voice_id": voice.id, "output_format": fmt.name, "sample_rate": rate}
    )
    queue: asyncio.Queue[object] = asyncio.Queue()
    speaker = asyncio.create_task(_speaker(ws, session, queue))
    buffer, closing = SentenceBuffer(), False
    try:
        while True:
            message = await _receive(ws, speaker, settings.tts_ws_idle_timeout_s if not closing else 3600.0)
            if message is None:
                speaker.result()  # re-raises the speaker's failure, if any
                await ws.close(1000)
                return
            if closing:
                continue  # after "close" nothing more is read as text
            kind = message.get("type", "text" if "text" in message else None)
            if kind == "text":
                text = message.get("text")
                if not isinstance(text, str):
                    raise InvalidParameter("text must be a string", param="text")
                service.check_length(ws.state.characters + len(text), "text", "open another session")
                ws.state.characters += len(text)
                for sentence in buffer.add(text):
                    queue.put_nowait(sentence)
            elif kind in ("flush", "close"):
                rest = buffer.take_all()
                if rest:
                    queue.put_nowait(rest)
                queue.put_nowait(_FLUSH if kind == "flush" else _END)
                closing = kind == "close"
            else:
                raise InvalidParameter(
                    f"unknown message type {kind!r}: use text, flush or close", param="type"
                )
    except (_Gone, WebSocketDisconnect):
        log.info("speak stream client left", extra={"fields": {"audio_s": round(session.audio_seconds, 2)}})
    except Exception as exc:
        await send_error(ws, as_appliance_error(exc, ApplianceError("synthesis failed; the session is closed")))
    finally:
        speaker.cancel()
        with contextlib.suppress(BaseException):
            await speaker
        session.close()
