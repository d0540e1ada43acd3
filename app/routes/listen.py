"""Smallest-style speech-to-text: POST /v1/listen, GET /v1/listen/{request_id}, WS /v1/listen/stream.

`transcribe_upload` and `serve_stream` are the one implementation behind these routes and the
Waves v1 ones (app/routes/waves.py), which only shape the answers their own way."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse

from app.errors import ApplianceError, InvalidParameter, UpstreamStreamFailed
from app.licensing import licensed
from app.services.transcription import (
    StreamAudio,
    Transcript,
    TranscriptionRequest,
    TranscriptionService,
    parse_control,
)
from app.ws_errors import send_error
from common.asr_stream import StreamOptions, control_message
from common.callback_guard import CallbackPolicy, CallbackRefused, callback_policy, check_callback_url
from common.ws_errors import is_deliberate

from .uploads import read_upload

router = APIRouter(tags=["speech-to-text"])
log = logging.getLogger(__name__)

# webhook_url / webhook_method: the Waves v1 names of callback_url (which is always POSTed).
_KNOWN = {"language", "timestamps", "word_timestamps", "callback_url", "model", "webhook_url", "webhook_method"}
# Smallest / Deepgram features this engine does not have: say so instead of ignoring them.
_UNSUPPORTED = {
    "diarize",
    "emotion_detection",
    "age_detection",
    "gender_detection",
    "redact_pii",
    "sentiment",
}


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.lower() in ("", "false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    raise InvalidParameter(f"{name} must be true or false", param=name)


def _params(request: Request, form: dict[str, list[str]]) -> dict[str, str]:
    params = {k: v for k, v in request.query_params.items()}
    params.update({k: v[-1] for k, v in form.items()})
    for name in params:
        if name in _UNSUPPORTED:
            raise InvalidParameter(f"{name} is not supported by this speech-to-text engine", param=name)
        if name not in _KNOWN:
            raise InvalidParameter(
                f"unknown parameter {name!r} (accepted: {', '.join(sorted(_KNOWN))})", param=name
            )
    if params.get("webhook_method", "POST").upper() != "POST":
        raise InvalidParameter("webhook_method must be POST: results are POSTed", param="webhook_method")
    return params


async def _callback_url(value: str | None, policy: CallbackPolicy) -> str | None:
    if not value:
        return None
    try:
        await check_callback_url(value, policy)
    except CallbackRefused as exc:
        raise InvalidParameter(str(exc), param="callback_url") from None
    return value


@router.post("/v1/listen")
@licensed("asr")
async def listen(request: Request) -> JSONResponse:
    result = await transcribe_upload(request)
    if isinstance(result, str):
        return JSONResponse({"request_id": result, "status": "queued"}, status_code=202)
    return JSONResponse(result.model_dump(exclude_none=True))


async def transcribe_upload(request: Request) -> Transcript | str:
    """The transcript of the audio in the body, or the job id when a callback will get it."""
    service: TranscriptionService = request.app.state.transcription
    settings = request.app.state.settings
    params = _params(request, {})
    language = params.get("language") or None
    if language in ("auto", "multi"):
        language = None
    service.check_ready()  # before reading a large body: a down worker answers 503 at once
    service.check_language(language)
    upload = await read_upload(
        request, file_fields=("audio", "file"), max_bytes=settings.max_upload_bytes, allow_raw=True
    )
    params = _params(request, upload.fields)
    words = _flag(params.get("timestamps"), "timestamps") or _flag(
        params.get("word_timestamps"), "word_timestamps"
    )
    callback = await _callback_url(
        params.get("callback_url") or params.get("webhook_url"),
        callback_policy(settings.callback_blocked_networks, settings.callback_allowed_networks),
    )
    audio = await service.decode(upload.data)
    request.state.audio_seconds = audio.duration  # usage metering reads this
    req = TranscriptionRequest(audio=audio, language=language, word_timestamps=words, callback_url=callback)
    if callback:
        return await service.submit(req)
    return await service.transcribe(req)


@router.get("/v1/listen/{request_id}")
@licensed("asr")
async def listen_result(request: Request, request_id: str) -> JSONResponse:
    service: TranscriptionService = request.app.state.transcription
    return JSONResponse(await service.lookup(request_id))


@router.websocket("/v1/listen/stream")
@licensed("asr", "streaming")
async def listen_stream(websocket: WebSocket) -> None:
    await serve_stream(websocket)


Reshape = Callable[[dict[str, Any]], dict[str, Any]]


async def serve_stream(websocket: WebSocket, reshape: Reshape | None = None) -> None:
    """One streaming session with the worker; `reshape` turns its messages into a surface's own."""
    service: TranscriptionService = websocket.app.state.transcription
    await websocket.accept()
    query = websocket.query_params
    # Validate and reserve the worker before any audio flows.
    try:
        try:
            sample_rate = int(query.get("sample_rate", "16000"))
        except ValueError:
            raise InvalidParameter("sample_rate must be an integer", param="sample_rate") from None
        audio = StreamAudio(sample_rate, query.get("encoding", "linear16"))
        language = query.get("language") or None
        language = None if language in ("auto", "multi") else language
        words = _flag(query.get("word_timestamps") or query.get("timestamps"), "word_timestamps")
        websocket.app.state.components.require("asr")
        service.check_language(language)
        upstream = await service.client.open_stream(StreamOptions(language=language, word_timestamps=words))
    except ApplianceError as exc:
        await send_error(websocket, exc)
        return
    try:
        await _proxy(websocket, upstream, audio, reshape)
    finally:
        websocket.state.audio_seconds = audio.seconds  # usage metering reads this
        await upstream.close()


async def _proxy(
    websocket: WebSocket, upstream: aiohttp.ClientWebSocketResponse, audio: StreamAudio, reshape: Reshape | None
) -> None:
    async def client_to_worker() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                try:
                    pcm = audio.convert(message["bytes"])
                except ApplianceError as exc:
                    await send_error(websocket, exc)
                    return
                if pcm:
                    await _forward(upstream.send_bytes(pcm))
                continue
            try:
                kind = parse_control(message.get("text") or "")
            except ApplianceError as exc:
                await send_error(websocket, exc)
                return
            await _forward(upstream.send_str(control_message(kind)))

    async def worker_to_client() -> None:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                data = message.data
                if reshape is not None:
                    data = json.dumps(reshape(json.loads(data)))
                await websocket.send_text(data)
        code = upstream.close_code
        if code is not None and is_deliberate(code):  # the worker ended the session (its error sent)
            await websocket.close(code)
        else:  # the worker went away mid-session: say so rather than close silently
            await send_error(
                websocket, UpstreamStreamFailed("the ASR worker ended the session unexpectedly")
            )

    # Whichever side ends first ends the session: the client leaving or sending a bad frame, or
    # the worker closing after is_last (or failing).
    tasks = [asyncio.create_task(client_to_worker()), asyncio.create_task(worker_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _forward(send: Awaitable[None]) -> None:
    """Send to the worker. If its connection is gone (it died), wait instead of failing: the session
    then ends through worker_to_client's error frame rather than this exception cutting it short."""
    try:
        await send
    except (ConnectionError, aiohttp.ClientError):
        await asyncio.Event().wait()

