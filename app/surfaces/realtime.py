"""The OpenAI Realtime surface: `WS /v1/realtime?intent=transcription`, OpenAI's events translated
to and from a transcription session in turns (app/sessions/turns.py), nothing more.

The session's settings come in `session.update` (GA shape) or `transcription_session.update` (beta
shape) and are written back in the shape the client used. They reach the worker: `turn_detection`
(threshold, prefix_padding_ms, silence_duration_ms) is its VAD's, `null` makes turns manual commits;
`transcription.language` and `prompt` are its decoder's. Deliberately unsupported (an `error` event,
the session goes on): G.711 input formats, and every event of the conversation API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.types import Message

from app import limits
from app.errors import ApplianceError, BadRequest, InvalidParameter, UnsupportedMedia
from app.licensing import licensed
from app.sessions.sockets import each_message, fail
from app.sessions.transcription import TranscriptionSessions
from app.sessions.turns import Turn, Turns
from app.sessions.usage import Usage
from common.aio import cancel_and_wait
from common.asr_stream import StreamOptions

router = APIRouter(tags=["speech-to-text"])
log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100  # OpenAI refuses to commit less than this
DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
}
# turn_detection's fields as the worker's VAD options (common.asr_stream.StreamOptions), and back
_VAD = {"threshold": "vad_threshold", "prefix_padding_ms": "prefix_padding_ms",
        "silence_duration_ms": "silence_duration_ms"}
_FIELD = {option: f"turn_detection.{name}" for name, option in _VAD.items()} | {"prompt": "transcription.prompt"}


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


@dataclass
class RealtimeConfig:
    model: str = "gpt-4o-transcribe"
    language: str | None = None
    prompt: str = ""
    rate: int = limits.PCM_RATE
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_TURN_DETECTION))
    legacy: bool = False  # answer in the beta `transcription_session.*` shape

    def session(self, session_id: str) -> dict[str, Any]:
        """The session object, in the shape the client used."""
        transcription = {"model": self.model, "language": self.language, "prompt": self.prompt}
        ids = {"id": session_id, "object": "realtime.transcription_session"}
        if self.legacy:
            return {**ids, "input_audio_format": "pcm16", "input_audio_transcription": transcription,
                    "turn_detection": self.turn_detection, "input_audio_noise_reduction": None}
        audio_in = {"format": {"type": "audio/pcm", "rate": self.rate}, "transcription": transcription,
                    "turn_detection": self.turn_detection, "noise_reduction": None}
        return {"type": "transcription", **ids, "audio": {"input": audio_in}, "include": None}

    def options(self, prefix: str) -> StreamOptions:
        """The worker session's options: a value it cannot take is a 422 naming the client's field."""
        turn = self.turn_detection or {}
        vad = {option: turn[name] for name, option in _VAD.items() if name in turn}
        try:
            return StreamOptions(language=self.language, prompt=self.prompt or None, **vad)
        except ValidationError as exc:
            first = exc.errors()[0]
            param = f"{prefix}.{_FIELD.get(str(first['loc'][0]), first['loc'][0])}"
            raise InvalidParameter(f"{param}: {first['msg']}", param=param) from None


class RealtimeSession:
    """One client's session: its events in, the turns' events out in OpenAI's names."""

    def __init__(self, websocket: WebSocket, sessions: TranscriptionSessions) -> None:
        self.id, self.config = _id("sess"), RealtimeConfig()
        self._ws, self._sessions, self.lock = websocket, sessions, asyncio.Lock()
        self.turns = Turns(sessions.service, self, Usage(websocket), lambda: _id("item"), self.config.rate)

    async def emit(self, kind: str, **fields: Any) -> None:
        async with self.lock:
            await self._ws.send_text(json.dumps({"type": kind, "event_id": _id("event"), **fields}))

    async def error(self, exc: ApplianceError, event_id: str | None = None) -> None:
        await self.emit("error", error={**exc.body()["error"], "event_id": event_id})  # type: ignore[dict-item]

    async def on_client(self, message: Message) -> None:
        """One frame from the client; its mistakes become `error` events."""
        event_id = None
        try:
            if message.get("text") is None:
                raise InvalidParameter("binary frames are not part of this protocol: send JSON events "
                                       "(input_audio_buffer.append carries base64 audio)", param="event")
            try:
                event = json.loads(message["text"])
            except ValueError:
                raise BadRequest("events must be JSON objects", param="event") from None
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise InvalidParameter("events must be JSON objects with a string `type`", param="type")
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await self._dispatch(event["type"], event)
        except ApplianceError as exc:
            await self.error(exc, event_id)

    async def _dispatch(self, kind: str, event: dict[str, Any]) -> None:
        if kind in ("session.update", "transcription_session.update"):
            await self._configure(event.get("session"), legacy=kind.startswith("transcription_session"))
            await self.emit(kind.replace(".update", ".updated"), session=self.config.session(self.id))
        elif kind == "input_audio_buffer.append":
            await self.turns.append(_pcm(event.get("audio")))
        elif kind == "input_audio_buffer.commit":
            if (buffered := self.turns.buffered_ms) < MIN_COMMIT_MS:
                raise BadRequest(f"buffer too small: at least {MIN_COMMIT_MS} ms of audio must be appended since "
                                 f"the last commit, there are {buffered:.0f} ms", param="input_audio_buffer")
            await self.turns.commit()
        elif kind == "input_audio_buffer.clear":
            await self.turns.clear()
            await self.emit("input_audio_buffer.cleared")
        else:
            raise InvalidParameter(f"{kind!r} is not supported: this is a transcription session (session.update, "
                                   "input_audio_buffer.append / commit / clear)", param="type")

    async def _configure(self, session: Any, *, legacy: bool) -> None:
        """The client's `session` object applied: a field left out keeps its value."""
        if not isinstance(session, dict):
            raise InvalidParameter("session must be an object", param="session")
        config = replace(self.config, legacy=legacy)
        if legacy:
            fmt, prefix = session.get("input_audio_format"), "session"
            if fmt not in (None, "pcm16"):
                raise UnsupportedMedia(f"input_audio_format {fmt!r} is not supported; use pcm16",
                                       param="session.input_audio_format")
            transcription, turn = session.get("input_audio_transcription"), session.get("turn_detection", ...)
            where = "session.input_audio_transcription"
        else:
            audio = session.get("audio") or {}
            audio_in = (audio.get("input") or {}) if isinstance(audio, dict) else {}
            if not isinstance(audio_in, dict):
                raise InvalidParameter("session.audio.input must be an object", param="session.audio.input")
            if isinstance(audio_in.get("format"), dict):
                config.rate = _rate(audio_in["format"])
            transcription, turn = audio_in.get("transcription"), audio_in.get("turn_detection", ...)
            prefix = where = "session.audio.input"
            where += ".transcription"
        if isinstance(transcription, dict):
            config.language = transcription.get("language") or None
            self._sessions.service.check_language(config.language, param=f"{where}.language")
            config.model = str(transcription.get("model") or config.model)
            config.prompt = str(transcription.get("prompt") or "")
        if turn is not ...:  # absent: unchanged; null: manual commits
            if turn is not None and not isinstance(turn, dict):
                raise InvalidParameter("turn_detection must be an object or null", param="turn_detection")
            config.turn_detection = None if turn is None else {**DEFAULT_TURN_DETECTION, **turn}
        await self.turns.configure(config.rate, config.options(prefix), manual=config.turn_detection is None)
        self.config = config

    # --- the turns' events, in OpenAI's names ------------------------------------------------------
    async def speech_started(self, turn: Turn, audio_start_ms: int) -> None:
        await self.emit("input_audio_buffer.speech_started", item_id=turn.id, audio_start_ms=audio_start_ms)

    async def speech_stopped(self, turn: Turn, audio_end_ms: int) -> None:
        await self.emit("input_audio_buffer.speech_stopped", item_id=turn.id, audio_end_ms=audio_end_ms)

    async def committed(self, turn: Turn, previous: Turn | None) -> None:
        await self.emit("input_audio_buffer.committed", item_id=turn.id, previous_item_id=previous and previous.id)

    async def delta(self, turn: Turn, text: str) -> None:
        await self.emit("conversation.item.input_audio_transcription.delta", item_id=turn.id, content_index=0,
                        delta=text)

    async def completed(self, turn: Turn) -> None:
        await self.emit(
            "conversation.item.input_audio_transcription.completed", item_id=turn.id, content_index=0,
            transcript=turn.transcript, usage={"type": "duration", "seconds": round(turn.seconds, 3)},
        )


def _pcm(audio: Any) -> bytes:
    if not isinstance(audio, str):
        raise InvalidParameter("audio must be base64-encoded PCM16", param="audio")
    try:
        return base64.b64decode(audio, validate=True)
    except ValueError:  # binascii.Error is one
        raise InvalidParameter("audio is not valid base64", param="audio") from None


def _rate(fmt: dict[str, Any]) -> int:
    if fmt.get("type", "audio/pcm") != "audio/pcm":
        raise UnsupportedMedia(f"audio format {fmt.get('type')!r} is not supported; use audio/pcm",
                               param="session.audio.input.format.type")
    rate, param = fmt.get("rate", limits.PCM_RATE), "session.audio.input.format.rate"
    if not isinstance(rate, int):
        raise InvalidParameter("rate must be an integer (Hz)", param=param)
    limits.check(rate, limits.SAMPLE_RATE, param, " Hz")
    return rate


@router.websocket("/v1/realtime")
@licensed("asr", "streaming")
async def realtime(websocket: WebSocket) -> None:
    sessions: TranscriptionSessions = websocket.app.state.transcription
    # Browsers cannot set headers: they offer "realtime" (and the key) as subprotocols.
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    session = RealtimeSession(websocket, sessions)
    try:
        if websocket.query_params.get("intent") != "transcription":
            raise InvalidParameter(
                "only transcription sessions are served here: connect with ?intent=transcription", param="intent"
            )
        sessions.service.check_ready()
    except ApplianceError as exc:
        await fail(websocket, exc)
        return
    await session.emit("session.created", session=session.config.session(session.id))

    client = asyncio.create_task(each_message(websocket, session.on_client))
    failed = asyncio.create_task(session.turns.failed.wait())
    failure = None
    try:
        await asyncio.wait({client, failed}, return_when=asyncio.FIRST_COMPLETED)
        # The worker failed, or the client's deadline passed: the session ends with the error.
        failure = session.turns.failure
        if failure is None and client.done() and client.exception() is None:
            failure = client.result()
        if failure is not None:
            async with session.lock:
                await fail(websocket, failure)
    finally:
        await cancel_and_wait([client, failed], ignore_errors=True)
        await session.turns.close()
        log.info("realtime session ended", extra={"fields": {
            "audio_s": round(session.turns.audio_seconds, 2), "items": session.turns.completed,
            "error": failure.code if failure else None,
        }})
