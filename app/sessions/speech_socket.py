"""WebSocket speech sessions: text arrives in pieces as it is written, each sentence is spoken once
complete, audio goes out as it is produced. One loop for every surface, which gives only its wire
format (`SpeechWire`): how its frames read as text, flush and end, and how audio, flushes, the end
and errors are written back.

The native wire (`NativeWire`) is the layer's own: /v1/speak/stream exposes it as is, the Svara
SDK's stream-input socket under its own query names.
  Client -> server (JSON text frames): {"type": "text", "text": "..."} more text; {"type": "flush"}
  speak what is buffered now; {"type": "close"} speak the rest, finish, close. Frames without a type
  (the Svara SDK's): {"text": "..."} is text, {"flush": true} a flush, {"text": ""} the end.
  Server -> client: {"type": "ready", ...} first, binary audio frames (one stream in the chosen
  format), {"type": "flushed", ...} after a flush's audio, {"type": "done", ...} at the end, then a
  normal close; or the error frame and a close (app.sessions.sockets.fail).

A client silent for WS_IDLE_TIMEOUT_S while no audio is owed to it is closed; while a sentence it
waits for is being made, the idle clock does not run (app.sessions.sockets: both deadlines).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from app.errors import ApplianceError, InvalidParameter
from app.services.speech import SpeechRequest
from common import ws_errors
from tts_engine.text.split import split_sentences

from .sockets import ClientGone, fail, json_object, receive
from .speech import SpeechSession, SpeechSessions, failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextFrame:
    """A client frame as the session reads it."""

    text: str = ""
    flush: bool = False  # speak what is buffered now
    end: bool = False  # speak the rest, finish the stream, close


class SpeechWire(Protocol):
    """A surface's wire format over the session loop."""

    def opening(self, message: dict[str, Any]) -> SpeechRequest:
        """The request a session's first frame opens (for sessions not opened from the query)."""
        ...

    def read(self, message: dict[str, Any]) -> TextFrame: ...

    async def ready(self, websocket: WebSocket, session: SpeechSession) -> None: ...

    async def audio(self, websocket: WebSocket, data: bytes) -> None: ...

    async def flushed(self, websocket: WebSocket, session: SpeechSession) -> None: ...

    async def done(self, websocket: WebSocket, session: SpeechSession) -> None: ...

    def error(self, error: ApplianceError) -> dict[str, Any]: ...


class NativeWire:
    """The layer's own protocol (see the module docstring)."""

    def opening(self, message: dict[str, Any]) -> SpeechRequest:
        raise NotImplementedError("native sessions are opened from the query")

    def read(self, message: dict[str, Any]) -> TextFrame:
        kind = message.get("type") or _untyped_kind(message)
        if kind == "text":
            text = message.get("text")
            if not isinstance(text, str):
                raise InvalidParameter("text must be a string", param="text")
            return TextFrame(text=text)
        if kind in ("flush", "close"):
            return TextFrame(flush=kind == "flush", end=kind == "close")
        raise InvalidParameter(f"unknown message type {kind!r}: use text, flush or close", param="type")

    async def ready(self, websocket: WebSocket, session: SpeechSession) -> None:
        plan = session.plan
        await websocket.send_json({
            "type": "ready", "voice_id": plan.voice.id, "output_format": plan.format.name,
            "sample_rate": plan.sample_rate,
        })

    async def audio(self, websocket: WebSocket, data: bytes) -> None:
        await websocket.send_bytes(data)

    async def flushed(self, websocket: WebSocket, session: SpeechSession) -> None:
        await websocket.send_json({"type": "flushed", "audio_seconds": round(session.audio_seconds, 3)})

    async def done(self, websocket: WebSocket, session: SpeechSession) -> None:
        await websocket.send_json(
            {"type": "done", "characters": session.characters, "audio_seconds": round(session.audio_seconds, 3)}
        )

    def error(self, error: ApplianceError) -> dict[str, Any]:
        return error.body()


def _untyped_kind(message: dict[str, Any]) -> str | None:
    if message.get("flush") is True:
        return "flush"
    if "text" in message:
        return "close" if message["text"] == "" else "text"
    return None


class SentenceBuffer:
    """Collects streamed text; hands out sentences once the text after them has started."""

    def __init__(self) -> None:
        self._text = ""

    def __len__(self) -> int:
        return len(self._text)

    def add(self, text: str) -> list[str]:
        self._text += text
        sentences = split_sentences(self._text)
        if len(sentences) < 2:
            return []
        # The last sentence may still grow ("3." + "5"): keep it until more text follows it.
        last = sentences[-1]
        self._text = self._text[self._text.rindex(last) :]
        return sentences[:-1]

    def take_all(self) -> str:
        text, self._text = self._text.strip(), ""
        return text


_FLUSH = object()  # queue markers between the reader and the speaker
_END = object()


class _Speaker:
    """Speaks queued sentences in order while the client's frames are read; `pending` counts what is
    owed to the client (the idle clock runs only while it is 0)."""

    def __init__(self, websocket: WebSocket, session: SpeechSession, wire: SpeechWire) -> None:
        self._ws, self._session, self._wire = websocket, session, wire
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.pending = 0
        self.task = asyncio.create_task(self._run())

    def put(self, item: object) -> None:
        self.pending += 1
        self._queue.put_nowait(item)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._speak(item)
            finally:
                self.pending -= 1
            if item is _END:
                return

    async def _speak(self, item: object) -> None:
        if item is _FLUSH:
            await self._wire.flushed(self._ws, self._session)
        elif item is _END:
            tail = self._session.finish()
            if tail:
                await self._wire.audio(self._ws, tail)
            await self._wire.done(self._ws, self._session)
        else:
            async for data in self._session.speak(str(item)):
                await self._wire.audio(self._ws, data)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


async def serve_speech_socket(
    websocket: WebSocket,
    sessions: SpeechSessions,
    wire: SpeechWire,
    query: Callable[[], SpeechRequest] | None = None,
) -> None:
    """One session. `query()` (the request the query asks for) opens it before any frame, and a
    mistake in it ends the session before `ready`; without one, the first frame opens it
    (`wire.opening`)."""
    await websocket.accept()
    session: SpeechSession | None = None
    speaker: _Speaker | None = None
    buffer, closing = SentenceBuffer(), False
    try:
        if query is not None:
            session = sessions.session(websocket, sessions.service.open(query(), "output_format"), patient=True)
            speaker = _Speaker(websocket, session, wire)
            await wire.ready(websocket, session)
        while True:
            busy = closing or (speaker is not None and speaker.pending)
            message = await receive(websocket, owed=bool(busy), until=speaker.task if speaker else None)
            if message is None:  # the speaker has finished (the end is spoken), or failed
                assert speaker is not None
                speaker.task.result()  # re-raises the speaker's failure, if any
                await websocket.close(ws_errors.NORMAL)
                return
            if closing:
                continue  # after the end nothing more is read as text
            body = json_object(message)
            if session is None or speaker is None:
                session = sessions.session(
                    websocket, sessions.service.open(wire.opening(body), "output_format"), patient=True
                )
                speaker = _Speaker(websocket, session, wire)
            frame = wire.read(body)
            session.accept(frame.text)
            for sentence in buffer.add(frame.text):
                speaker.put(sentence)
            if frame.flush or frame.end:
                if rest := buffer.take_all():
                    speaker.put(rest)
                speaker.put(_END if frame.end else _FLUSH)
                closing = frame.end
    except (ClientGone, WebSocketDisconnect):
        seconds = session.audio_seconds if session else 0.0
        log.info("speech socket client left", extra={"fields": {"audio_s": round(seconds, 2)}})
    except Exception as exc:
        await fail(websocket, failure(exc, started=True), wire.error)
    finally:
        if speaker is not None:
            await speaker.stop()
        if session is not None:
            session.close()
