"""OpenAI Realtime transcription: `WS /v1/realtime?intent=transcription` (OpenAI's events, backed by
the streaming ASR worker; see app/services/realtime_session.py). HTTP-level work only: the
handshake, frames in and out, and the end of the session."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket

from app.errors import ApplianceError, InvalidParameter
from app.licensing import licensed
from app.services.realtime_session import RealtimeTranscription
from app.services.transcription import TranscriptionService
from app.ws_errors import send_error

router = APIRouter(tags=["speech-to-text"])
log = logging.getLogger(__name__)


@router.websocket("/v1/realtime")
@licensed("asr", "streaming")
async def realtime(websocket: WebSocket) -> None:
    service: TranscriptionService = websocket.app.state.transcription
    # Browsers cannot set headers: they offer "realtime" (and the key) as subprotocols.
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    lock = asyncio.Lock()

    async def emit(event: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_text(json.dumps(event))

    session = RealtimeTranscription(service, emit)
    websocket.state.audio_seconds = 0.0
    try:
        if websocket.query_params.get("intent") != "transcription":
            raise InvalidParameter(
                "only transcription sessions are served here: connect with ?intent=transcription",
                param="intent",
            )
        service.check_ready()
    except ApplianceError as exc:
        await send_error(websocket, exc)
        return
    await session.start()
    client = asyncio.create_task(_client_events(websocket, session))
    failed = asyncio.create_task(session.failed.wait())
    try:
        await asyncio.wait({client, failed}, return_when=asyncio.FIRST_COMPLETED)
        if session.failure is not None:  # the worker failed: the session ends with its error
            async with lock:
                await send_error(websocket, session.failure)
    finally:
        for task in (client, failed):
            task.cancel()
        await asyncio.gather(client, failed, return_exceptions=True)
        await session.close()
        websocket.state.audio_seconds = session.audio_seconds  # usage metering reads this
        log.info("realtime session ended", extra={"fields": {
            "audio_s": round(session.audio_seconds, 2),
            "items": session.items_completed,
            "error": session.failure.code if session.failure else None,
        }})


async def _client_events(websocket: WebSocket, session: RealtimeTranscription) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is None:
            await session.error(InvalidParameter(
                "binary frames are not part of this protocol: send JSON events "
                "(input_audio_buffer.append carries base64 audio)", param="event",
            ))
            continue
        await session.on_client(message["text"])
