"""A transcription session in turns, for conversational surfaces (OpenAI Realtime): audio appended
at any rate, cut into turns by the worker's VAD (`manual` off) or by the client's commits, each turn
told as it goes (speech started and stopped, committed, words that will not be taken back) and
completed with its whole transcript. It outlives worker sessions: a worker session is opened on the
first audio, again after the worker closed an idle one, and again when the options change (at a
turn's end, so a turn is never split).

The worker endpoints speech itself; with `vad_events` it reports speech start and stop, and answers
each finalize with `flushed` once everything before it is out. So:
- VAD turns: speech_started / speech_stopped come from the worker's VAD (its threshold, silence
  duration and prefix padding are the session's options); speech_stopped commits the turn and the
  utterance's final completes it;
- manual turns: the worker's finals collect in the current turn until the client commits; the
  commit's `flushed` completes it.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from app.errors import ApplianceError, UpstreamStreamFailed
from app.services.transcription import TranscriptionService
from common import asr_stream, ws_errors
from common.aio import cancel_and_wait
from common.asr_stream import StreamOptions

from .transcription import StreamAudio
from .usage import Usage


@dataclass
class Turn:
    id: str
    parts: list[str] = field(default_factory=list)  # finals of the worker, in order
    spoken: list[str] = field(default_factory=list)  # words of the current utterance told so far
    committed: bool = False
    seconds: float = 0.0  # the audio it covers

    @property
    def transcript(self) -> str:
        return " ".join(p for p in self.parts if p)


class TurnEvents(Protocol):
    """What a surface is told, in order; it writes each in its own events."""

    async def speech_started(self, turn: Turn, audio_start_ms: int) -> None: ...

    async def speech_stopped(self, turn: Turn, audio_end_ms: int) -> None: ...

    async def committed(self, turn: Turn, previous: Turn | None) -> None: ...

    async def delta(self, turn: Turn, text: str) -> None: ...

    async def completed(self, turn: Turn) -> None: ...


class Turns:
    def __init__(
        self, service: TranscriptionService, events: TurnEvents, usage: Usage, new_id: Callable[[], str], rate: int
    ) -> None:
        self._service, self._events, self._usage, self._new_id = service, events, usage, new_id
        self.rate = rate
        self.manual = False
        self.options = StreamOptions(vad_events=True)
        self.failed = asyncio.Event()  # set with `failure`: the surface ends the session with it
        self.failure: ApplianceError | None = None
        self.completed = 0
        self.buffered_ms = 0.0  # appended since the last commit or clear
        self._audio: StreamAudio | None = None
        self._upstream: aiohttp.ClientWebSocketResponse | None = None
        self._upstream_options: StreamOptions | None = None
        self._reader: asyncio.Task[None] | None = None
        self._worker_error: dict[str, Any] | None = None  # the error frame the worker ended with
        self._offset_ms = 0  # audio sent on earlier worker sessions (the worker's clock restarts)
        self._turn: Turn | None = None
        self._previous: Turn | None = None
        self._pending: deque[Turn | None] = deque()  # one per finalize sent: the turn, or None (a clear)

    @property
    def audio_seconds(self) -> float:
        return self._audio.seconds if self._audio else 0.0

    async def configure(self, rate: int, options: StreamOptions, *, manual: bool) -> None:
        """New settings: a new rate applies to the next audio; new options to the next worker session,
        opened at once between turns, else once the turn in progress is complete."""
        if rate != self.rate and self._audio is not None:
            self._audio = StreamAudio(rate, "linear16", self._usage, self._audio.seconds)
        self.rate, self.manual = rate, manual
        self.options = options.model_copy(update={"vad_events": True})
        if self._turn is None:
            await self._apply_options()

    async def close(self) -> None:
        if self._reader is not None:
            await cancel_and_wait([self._reader], ignore_errors=True)
        if self._upstream is not None:
            await self._upstream.close()

    # --- the client's audio and commits ------------------------------------------------------------
    async def append(self, pcm: bytes) -> None:
        """PCM16 at `rate`; a half sample is a BadRequest."""
        if self._audio is None:
            self._audio = StreamAudio(self.rate, "linear16", self._usage)
        sent_before = self.audio_seconds
        converted = self._audio.convert(pcm)
        self.buffered_ms += len(pcm) / 2 / self.rate * 1000
        if self._turn is None and self.manual:
            self._turn = Turn(self._new_id())
        upstream = await self._open(sent_before)
        if converted:
            await self._send(upstream.send_bytes(converted))

    async def commit(self) -> None:
        """The audio since the last commit is a turn: committed now, completed once transcribed."""
        turn = self._turn or Turn(self._new_id())
        if turn.seconds <= 0:  # not measured by the VAD (manual turns, or a commit mid-speech)
            turn.seconds = self.buffered_ms / 1000
        await self._committed(turn)
        self._turn, self.buffered_ms = None, 0.0
        await self._finalize(turn)

    async def clear(self) -> None:
        """Drop the audio since the last commit, and what the worker makes of it."""
        await self._finalize(None)
        self._turn, self.buffered_ms = None, 0.0

    async def _committed(self, turn: Turn) -> None:
        if not turn.committed:
            turn.committed = True
            await self._events.committed(turn, self._previous)
            self._previous = turn

    async def _finalize(self, turn: Turn | None) -> None:
        """Everything the worker holds comes out now; `turn` None drops it (a clear)."""
        if self._upstream is None:  # no audio since the worker session began: nothing pending
            if turn is not None:
                await self._completed(turn)
            return
        self._pending.append(turn)
        await self._send(self._upstream.send_str(asr_stream.control_message(asr_stream.FINALIZE)))

    async def _completed(self, turn: Turn) -> None:
        self.completed += 1
        await self._events.completed(turn)
        if self._turn is turn:
            self._turn = None
        await self._apply_options()

    async def _apply_options(self) -> None:
        """Between turns, with nothing pending: a worker session with other options is closed; the
        next audio opens one with the new options."""
        if self.options != self._upstream_options and not self._pending and self._upstream:
            await self._upstream.close()

    # --- the worker --------------------------------------------------------------------------------
    async def _send(self, sending: Awaitable[None]) -> None:
        try:
            await sending
        except (aiohttp.ClientError, ConnectionError):  # the worker went away under a send
            self._fail(UpstreamStreamFailed("the ASR worker ended the session unexpectedly"))

    async def _open(self, sent_before: float) -> aiohttp.ClientWebSocketResponse:
        if self._upstream is not None and not self._upstream.closed:
            return self._upstream
        self._service.check_ready()
        self._offset_ms = int(sent_before * 1000)
        self._upstream = await self._service.client.open_stream(self.options)
        self._upstream_options = self.options
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
        elif not ws_errors.is_deliberate(upstream.close_code):  # an idle close: opened again on the next append
            self._fail(UpstreamStreamFailed("the ASR worker ended the session unexpectedly"))
        if self._upstream is upstream:
            self._upstream = None
            for turn in self._pending:  # their flush will never come
                if turn is not None:
                    await self._completed(turn)
            self._pending.clear()

    def _fail(self, exc: ApplianceError) -> None:
        self.failure = exc
        self.failed.set()

    def _target(self) -> Turn | None:
        """The turn the worker's next transcript belongs to (None: dropped by a clear)."""
        if self._pending:
            return self._pending[0]
        if self._turn is None:
            self._turn = Turn(self._new_id())
        return self._turn

    async def _on_worker(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        vad = not self.manual
        if kind == asr_stream.SPEECH_STARTED and vad and not self._pending:
            if self._turn is None or self._turn.committed:
                self._turn = Turn(self._new_id())
            start = self._offset_ms + int(message["audio_start_ms"])
            self._turn.seconds = -start / 1000
            await self._events.speech_started(self._turn, start)
        elif kind == asr_stream.SPEECH_STOPPED and vad and self._turn is not None and not self._pending:
            end = self._offset_ms + int(message["audio_end_ms"])
            self._turn.seconds += end / 1000
            await self._events.speech_stopped(self._turn, end)
            await self._committed(self._turn)
        elif kind == asr_stream.FLUSHED:
            turn = self._pending.popleft() if self._pending else None
            if turn is not None:
                await self._completed(turn)
        elif kind == "error":
            error = message.get("error") or {}
            if error.get("code") != asr_stream.ERROR_IDLE:  # an idle worker session is opened again later
                self._worker_error = error
        elif kind is None and not message.get("is_last"):
            await self._transcript(message)

    async def _transcript(self, message: dict[str, Any]) -> None:
        turn = self._target()
        if turn is None:
            return
        final = bool(message.get("is_final"))
        words = str(message.get("transcript" if final else "stable") or "").split()
        if [_norm(w) for w in words[: len(turn.spoken)]] == [_norm(w) for w in turn.spoken]:
            fresh = words[len(turn.spoken):]
            if fresh:
                lead = " " if turn.spoken or turn.parts else ""
                turn.spoken += fresh
                await self._events.delta(turn, lead + " ".join(fresh))
        if final:
            turn.parts.append(str(message.get("transcript") or "").strip())
            turn.spoken = []
            # VAD turns: the utterance the worker endpointed is the turn speech_stopped committed.
            if turn.committed and not self._pending:
                await self._completed(turn)


def _worker_failure(error: dict[str, Any], close_code: int | None) -> ApplianceError:
    """The worker's own error (e.g. the session limit), told with the same code, kind and close code."""
    failure = ApplianceError(str(error.get("message") or "the ASR worker ended the session"))
    failure.code = str(error.get("code") or failure.code)
    failure.error_type = str(error.get("type") or failure.error_type)
    failure.status_code = ws_errors.status_of(close_code)
    return failure


def _norm(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())
