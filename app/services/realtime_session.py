"""OpenAI Realtime transcription sessions (`/v1/realtime?intent=transcription`) over the streaming
ASR worker: the same worker session, VAD and transcripts as `WS /v1/listen/stream`, told in OpenAI's
events.

The worker endpoints speech itself; with `vad_events` it also reports speech start and stop, and
answers each finalize with `flushed` once everything before it is out. So:
- server VAD (`turn_detection` set, the default): speech_started / speech_stopped come from the
  worker's VAD; speech_stopped commits the item and the utterance's final completes it.
- manual (`turn_detection: null`): the worker's finals collect in the current item until the client
  commits; the commit's `flushed` completes it.
- `delta` events carry only words the worker's partials agree on, so they are never taken back;
  `completed` carries the whole transcript.
Deliberately unsupported (an `error` event, the session goes on): G.711 input formats, and every
event of the conversation API (responses, items, output audio).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from app.errors import ApplianceError, BadRequest, InvalidParameter, UpstreamStreamFailed
from app.services.realtime_config import RealtimeConfig, updated
from app.services.transcription import StreamAudio, TranscriptionService
from common import asr_stream, ws_errors
from common.asr_stream import StreamOptions
from common.ws_errors import is_deliberate

Emit = Callable[[dict[str, Any]], Awaitable[None]]
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less than this


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:22]}"


@dataclass
class _Item:
    id: str
    parts: list[str] = field(default_factory=list)  # finals of the worker, in order
    spoken: list[str] = field(default_factory=list)  # words of the current utterance sent as deltas
    committed: bool = False
    seconds: float = 0.0  # the audio it covers, for the usage field

    @property
    def transcript(self) -> str:
        return " ".join(p for p in self.parts if p)


class RealtimeTranscription:
    def __init__(self, service: TranscriptionService, emit: Emit) -> None:
        self.service = service
        self._emit = emit
        self.session_id = _id("sess")
        self.config = RealtimeConfig()
        self.failed = asyncio.Event()  # set with `failure`: the route ends the session with it
        self.failure: ApplianceError | None = None
        self.items_completed = 0
        self._worker_error: dict[str, Any] | None = None  # the error frame the worker ended with
        self._audio: StreamAudio | None = None
        self._seconds_before = 0.0  # audio of earlier StreamAudio objects (the rate changed)
        self._upstream: aiohttp.ClientWebSocketResponse | None = None
        self._upstream_language: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._offset_ms = 0  # audio sent on earlier worker sessions (the worker's clock restarts)
        self._buffer_ms = 0.0  # appended since the last commit or clear
        self._item: _Item | None = None
        self._previous_item_id: str | None = None
        self._pending: deque[_Item | None] = deque()  # one per finalize sent: the item, or None (clear)

    @property
    def audio_seconds(self) -> float:
        return self._seconds_before + (self._audio.seconds if self._audio else 0.0)

    async def emit(self, kind: str, **fields: Any) -> None:
        await self._emit({"type": kind, "event_id": _id("event"), **fields})

    async def error(self, exc: ApplianceError, event_id: str | None = None) -> None:
        body = exc.body()["error"]
        assert isinstance(body, dict)
        await self.emit("error", error={**body, "event_id": event_id})

    async def start(self) -> None:
        await self.emit("session.created", session=self.config.session(self.session_id))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._upstream is not None:
            await self._upstream.close()

    # --- client events ---------------------------------------------------------------------------
    async def on_client(self, text: str) -> None:
        """One text frame from the client; its mistakes become `error` events."""
        event_id = None
        try:
            try:
                event = json.loads(text)
            except ValueError:
                raise BadRequest("events must be JSON objects", param="event") from None
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise InvalidParameter("events must be JSON objects with a string `type`", param="type")
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await self._dispatch(event)
        except ApplianceError as exc:
            await self.error(exc, event_id)
        except (aiohttp.ClientError, ConnectionError):  # the worker went away under a send
            self._fail(UpstreamStreamFailed("the ASR worker ended the session unexpectedly"))

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            self._configure(event.get("session"), legacy=kind.startswith("transcription_session"))
            await self.emit(kind.replace(".update", ".updated"), session=self.config.session(self.session_id))
        elif kind == "input_audio_buffer.append":
            await self._append(event.get("audio"))
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "input_audio_buffer.clear":
            await self._finalize(None)
            self._item, self._buffer_ms = None, 0.0
            await self.emit("input_audio_buffer.cleared")
        else:
            raise InvalidParameter(
                f"{kind!r} is not supported: this is a transcription session (session.update, "
                "input_audio_buffer.append / commit / clear)",
                param="type",
            )

    def _configure(self, session: Any, *, legacy: bool) -> None:
        config = updated(self.config, session, legacy=legacy, check_language=self.service.check_language)
        if config.rate != self.config.rate and self._audio is not None:
            self._seconds_before += self._audio.seconds
            self._audio = None
        self.config = config

    async def _append(self, audio: Any) -> None:
        if not isinstance(audio, str):
            raise InvalidParameter("audio must be base64-encoded PCM16", param="audio")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameter("audio is not valid base64", param="audio") from None
        if self._audio is None:
            self._audio = StreamAudio(self.config.rate, "linear16")
        sent_before = self.audio_seconds
        converted = self._audio.convert(pcm)  # odd byte counts: BadRequest
        self._buffer_ms += len(pcm) / 2 / self.config.rate * 1000
        if self._item is None and self.config.turn_detection is None:
            self._item = _Item(_id("item"))
        upstream = await self._open(sent_before)
        if converted:
            await upstream.send_bytes(converted)

    async def _commit(self) -> None:
        if self._buffer_ms < MIN_COMMIT_MS:
            raise BadRequest(
                f"buffer too small: at least {MIN_COMMIT_MS} ms of audio must be appended since the last "
                f"commit, there are {self._buffer_ms:.0f} ms",
                param="input_audio_buffer",
            )
        item = self._item or _Item(_id("item"))
        if item.seconds <= 0:  # not measured by the VAD (manual turns, or a commit mid-speech)
            item.seconds = self._buffer_ms / 1000
        await self._committed(item)
        self._item, self._buffer_ms = None, 0.0
        await self._finalize(item)

    async def _committed(self, item: _Item) -> None:
        if not item.committed:
            item.committed = True
            await self.emit(
                "input_audio_buffer.committed", item_id=item.id, previous_item_id=self._previous_item_id
            )
            self._previous_item_id = item.id

    async def _finalize(self, item: _Item | None) -> None:
        """Everything the worker holds comes out now; `item` None drops it (a clear)."""
        if self._upstream is None:  # no audio since the worker session began: nothing pending
            if item is not None:
                await self._completed(item)
            return
        self._pending.append(item)
        await self._upstream.send_str(asr_stream.control_message(asr_stream.FINALIZE))

    async def _completed(self, item: _Item) -> None:
        self.items_completed += 1
        await self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=item.id, content_index=0, transcript=item.transcript,
            usage={"type": "duration", "seconds": round(item.seconds, 3)},
        )
        if self._item is item:
            self._item = None
        if self.config.language != self._upstream_language and not self._pending and self._upstream:
            await self._upstream.close()  # a new language takes effect with the next worker session

    # --- the worker ------------------------------------------------------------------------------
    async def _open(self, sent_before: float) -> aiohttp.ClientWebSocketResponse:
        if self._upstream is not None and not self._upstream.closed:
            return self._upstream
        self.service.check_ready()
        self._offset_ms = int(sent_before * 1000)
        self._upstream = await self.service.client.open_stream(
            StreamOptions(vad_events=True, language=self.config.language)
        )
        self._upstream_language = self.config.language
        self._reader = asyncio.create_task(self._read(self._upstream))
        return self._upstream

    async def _read(self, upstream: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in upstream:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._on_worker(json.loads(message.data))
        except ApplianceError as exc:
            self._fail(exc)
            return
        if self._worker_error is not None:
            self._fail(_worker_failure(self._worker_error, upstream.close_code))
        elif not is_deliberate(upstream.close_code):  # an idle close: opened again on the next append
            self._fail(UpstreamStreamFailed("the ASR worker ended the session unexpectedly"))
        if self._upstream is upstream:
            self._upstream = None
            for item in self._pending:  # their flush will never come
                if item is not None:
                    await self._completed(item)
            self._pending.clear()

    def _fail(self, exc: ApplianceError) -> None:
        self.failure = exc
        self.failed.set()

    def _target(self) -> _Item | None:
        """The item the worker's next transcript belongs to (None: dropped by a clear)."""
        if self._pending:
            return self._pending[0]
        if self._item is None:
            self._item = _Item(_id("item"))
        return self._item

    async def _on_worker(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        vad = self.config.turn_detection is not None
        if kind == "speech_started" and vad and not self._pending:
            if self._item is None or self._item.committed:
                self._item = _Item(_id("item"))
            start = self._offset_ms + int(message["audio_start_ms"])
            self._item.seconds = -start / 1000
            await self.emit("input_audio_buffer.speech_started", item_id=self._item.id, audio_start_ms=start)
        elif kind == "speech_stopped" and vad and self._item is not None and not self._pending:
            end = self._offset_ms + int(message["audio_end_ms"])
            self._item.seconds += end / 1000
            await self.emit("input_audio_buffer.speech_stopped", item_id=self._item.id, audio_end_ms=end)
            await self._committed(self._item)
        elif kind == "flushed":
            item = self._pending.popleft() if self._pending else None
            if item is not None:
                await self._completed(item)
        elif kind == "error":
            error = message.get("error") or {}
            if error.get("code") != asr_stream.ERROR_IDLE:  # an idle worker session is opened again later
                self._worker_error = error
        elif kind is None and not message.get("is_last"):
            await self._transcript(message)

    async def _transcript(self, message: dict[str, Any]) -> None:
        item = self._target()
        if item is None:
            return
        final = bool(message.get("is_final"))
        words = str(message.get("transcript" if final else "stable") or "").split()
        if [_norm(w) for w in words[: len(item.spoken)]] == [_norm(w) for w in item.spoken]:
            fresh = words[len(item.spoken):]
            if fresh:
                lead = " " if item.spoken or item.parts else ""
                item.spoken += fresh
                await self.emit(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item.id, content_index=0, delta=lead + " ".join(fresh),
                )
        if final:
            item.parts.append(str(message.get("transcript") or "").strip())
            item.spoken = []
            # Server VAD: the utterance the worker endpointed is the item speech_stopped committed.
            if item.committed and not self._pending:
                await self._completed(item)


def _worker_failure(error: dict[str, Any], close_code: int | None) -> ApplianceError:
    """The worker's own error (e.g. the session limit), told with the same code, kind and close code."""
    failure = ApplianceError(str(error.get("message") or "the ASR worker ended the session"))
    failure.code = str(error.get("code") or failure.code)
    failure.error_type = str(error.get("type") or failure.error_type)
    statuses = {ws_errors.POLICY_VIOLATION: 403, ws_errors.TRY_AGAIN_LATER: 503}
    failure.status_code = statuses.get(close_code or 0, 502)
    return failure


def _norm(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())
