"""One streaming session: PCM16 16 kHz in, partial and final transcripts out.

Endpointing: Silero VAD per 32 ms window; an utterance starts at the first speech window and ends
after `asr_stream_endpoint_ms` of non-speech, which triggers its final at once. While speech goes
on, a partial is sent every `asr_stream_partial_interval_s` of audio. Partials carry `stable`: the
words two consecutive partials agree on, which later partials are unlikely to change.

Speculative finals: the final decodes the utterance up to `asr_stream_speculate_ms` after its last
speech window. That audio is complete long before the endpoint confirms the pause, so its decode
starts then, in the background; the endpoint only waits for what is left of it. Speech that resumes
first discards the guess (the utterance goes on); the endpoint then never waits for a stale one.

Decodes go to the worker's `DecodeScheduler`, which batches the work of every session per tick. A
final is awaited (the session's later audio waits for it, so messages stay in order); a partial is
only asked for, and sent by its own task when decoded, unless its utterance has asked for its final
by then. Partials take the newest audio when their tick comes, so under load they come less often.

With `?vad_events=true` (the gateway's OpenAI Realtime surface) the session also says what its VAD
saw, `{"type": "speech_started", "audio_start_ms"}` and `{"type": "speech_stopped", "audio_end_ms"}`
(before that utterance's final), and answers each finalize with `{"type": "flushed"}` once
everything before it is out. Transcript messages carry no `type`; other clients never see these.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from faster_whisper import WhisperModel

from common import asr_stream as proto
from common.aio import cancel_and_wait
from common.asr_jobs import SAMPLE_RATE
from common.asr_options import InvalidOption
from common.asr_stream import ProtocolError, StreamOptions
from common.pcm import pcm16_to_float
from common.ws_errors import send_error

from .decoder import DecodeRequest, DecodeResult
from .features import Features
from .redaction import Redactor
from .scheduler import DecodeScheduler, Kind, Work
from .settings import AsrSettings
from .transcriber import check_language
from .vad import WINDOW, StreamingVad

log = logging.getLogger(__name__)

PAD = SAMPLE_RATE * 3 // 10  # 300 ms kept after speech: Whisper likes context

Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def end_with_error(websocket: WebSocket, error: ProtocolError) -> None:
    """The contract's error frame, then the close code of its status (common.ws_errors)."""
    await send_error(websocket, error.body(), error.status)


@dataclass
class Session:
    scheduler: DecodeScheduler
    settings: AsrSettings
    options: StreamOptions
    emit: Emit  # sends one message to the client (serve_session: the WebSocket, in order)
    hotwords: str | None = None  # the session's keywords with the operator's (asr_engine.vocabulary)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    vad: StreamingVad = field(default_factory=StreamingVad)
    buf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    buf_start: int = 0  # absolute sample index of buf[0]
    total: int = 0  # samples received
    vad_pos: int = 0
    speech_start: int | None = None
    last_speech: int = 0
    last_partial_at: int = 0
    previous_words: list[str] = field(default_factory=list)
    finals: int = 0
    partials: int = 0
    utterance: int = 0  # advances when an utterance's final is asked for: its partials are stale then
    # The final decoded ahead of the endpoint, and the span (start, end) it covers.
    speculation: Work | None = None
    speculation_span: tuple[int, int] = (0, 0)
    closed: bool = False
    _partial: Work | None = field(default=None, init=False)  # the partial asked for last
    _deliveries: set[asyncio.Task[None]] = field(default_factory=set, init=False)  # partials' senders

    def __post_init__(self) -> None:
        # The session's VAD options (OpenAI's turn_detection) where given, else the worker's settings.
        options, settings = self.options, self.settings
        self.threshold = _pick(options.vad_threshold, settings.asr_stream_vad_threshold)
        self.endpoint = _pick(options.silence_duration_ms, settings.asr_stream_endpoint_ms) * SAMPLE_RATE // 1000
        # Audio kept before the first speech window: VAD onsets are late, Whisper likes context.
        self.prefix = _pick(options.prefix_padding_ms, PAD * 1000 // SAMPLE_RATE) * SAMPLE_RATE // 1000
        # One per session: a value keeps its placeholder in every message of the stream.
        self.redactor = Redactor(options.redact)

    # --- audio -----------------------------------------------------------------------------------
    async def on_audio(self, pcm: bytes) -> None:
        audio = pcm16_to_float(pcm)
        self.buf = np.concatenate([self.buf, audio])
        self.total += len(audio)
        tail = self._tail()
        for prob in self.vad.feed(audio):
            window_start, self.vad_pos = self.vad_pos, self.vad_pos + WINDOW
            if prob >= self.threshold:
                if self.speech_start is None:
                    self.speech_start = window_start
                    self.last_partial_at = window_start
                    await self._vad_event(proto.SPEECH_STARTED, max(window_start - self.prefix, 0))
                self.last_speech = self.vad_pos
            elif self.speech_start is not None and self.vad_pos - self.last_speech >= self.endpoint:
                await self._vad_event(proto.SPEECH_STOPPED, self.last_speech + tail)
                await self._final(self.last_speech + tail)
            elif self.speech_start is not None and self.vad_pos - self.last_speech >= tail:
                self._speculate(self.last_speech + tail)
        if self.speech_start is not None:
            spoken = self.vad_pos - self.speech_start
            if spoken >= self.settings.asr_stream_max_utterance_s * SAMPLE_RATE:
                await self._vad_event(proto.SPEECH_STOPPED, self.vad_pos)
                await self._final(self.vad_pos)
            elif self._partial_due():
                self.last_partial_at = self.vad_pos
                self._ask_partial()
        else:  # no speech pending: keep only the pre-roll
            self._trim(self.total - self.prefix)

    async def _vad_event(self, kind: str, at_sample: int) -> None:
        if self.options.vad_events:
            await self.emit(proto.vad_event(kind, _ms(at_sample)))

    def _tail(self) -> int:
        """Samples kept after the last speech window in a final."""
        speculate = self.settings.asr_stream_speculate_ms * SAMPLE_RATE // 1000
        return min(PAD, speculate) if speculate > 0 else PAD

    def _speculate(self, end: int) -> None:
        assert self.speech_start is not None
        span = (max(self.speech_start - self.prefix, self.buf_start), end)
        if self.settings.asr_stream_speculate_ms <= 0 or (self.speculation and self.speculation_span == span):
            return
        self.discard_speculation()
        self.speculation_span = span
        request = self._request(*span, final=True)
        self.speculation = self.scheduler.submit(self, Kind.SPECULATIVE, lambda: request)

    def discard_speculation(self) -> None:
        # Out of the queue; one already in a batch runs on, and its result is not used.
        if self.speculation is not None:
            self.scheduler.withdraw(self.speculation)
            self.speculation = None

    def _partial_due(self) -> bool:
        # Only while the speaker is talking: a partial started in the pause before an endpoint
        # would hold up that utterance's final.
        interval = self.settings.asr_stream_partial_interval_s * SAMPLE_RATE
        return self.last_speech == self.vad_pos and self.vad_pos - self.last_partial_at >= interval

    async def flush(self) -> None:
        """The client asked for everything pending (finalize / close_stream)."""
        if self.speech_start is not None:
            await self._final(self.total)

    async def close(self) -> None:
        """The session ended: its queued work is dropped and nothing more is sent."""
        self.closed = True
        self.scheduler.forget(self)
        self.speculation = self._partial = None
        await cancel_and_wait(list(self._deliveries), ignore_errors=True)

    # --- results ---------------------------------------------------------------------------------
    def _ask_partial(self) -> None:
        work = self.scheduler.submit(self, Kind.PARTIAL, self._partial_request)
        if work is self._partial:
            return  # coalesced: the partial already queued will take the newest audio
        self._partial = work
        delivery = asyncio.create_task(self._deliver_partial(work, self.utterance))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)

    def _partial_request(self) -> DecodeRequest | None:
        """The partial as of its tick: the utterance's audio up to the newest sample."""
        if self.speech_start is None or self.closed:
            return None
        return self._request(max(self.speech_start - self.prefix, self.buf_start), self.total, final=False)

    async def _deliver_partial(self, work: Work, utterance: int) -> None:
        try:
            result = await work.future
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("partial decode failed", extra={"fields": {"session_id": self.session_id}})
            return
        if result is None or self.closed or utterance != self.utterance:
            return  # nothing to decode any more, or its utterance has a final by now
        tokens = result.text.split()
        stable = 0
        while stable < min(len(tokens), len(self.previous_words)) and _norm(tokens[stable]) == _norm(
            self.previous_words[stable]
        ):
            stable += 1
        self.previous_words = tokens
        self.partials += 1
        try:
            await self.emit(self._message(result, 0.0, is_final=False, stable=" ".join(tokens[:stable])))
        except Exception:  # the client is gone: the session's receive loop sees it and ends the session
            log.debug("partial not sent", exc_info=True)

    async def _final(self, end: int) -> None:
        assert self.speech_start is not None
        start = max(self.speech_start - self.prefix, self.buf_start)
        end = min(end, self.total)
        self.utterance += 1
        if self._partial is not None:
            self.scheduler.withdraw(self._partial)  # a partial now would come after its final
            self._partial = None
        if self.speculation is not None and self.speculation_span == (start, end):
            work = self.speculation
            self.scheduler.promote(work)
        else:
            self.discard_speculation()  # speech went on after it, or a flush takes more audio
            request = self._request(start, end, final=True)
            work = self.scheduler.submit(self, Kind.FINAL, lambda: request)
        self.speculation = None
        result = await work.future
        self.speech_start = None
        self.previous_words = []
        self.finals += 1
        self._trim(end)
        if result is not None and not self.closed:
            await self.emit(self._message(result, start / SAMPLE_RATE, is_final=True, stable=result.text))

    def _request(self, start: int, end: int, *, final: bool) -> DecodeRequest:
        return DecodeRequest(
            audio=self.buf[start - self.buf_start : end - self.buf_start].copy(),
            beam_size=self.settings.asr_stream_beam_size if final else 1,
            language=self.options.language,
            prompt=self.options.prompt,
            hotwords=self.hotwords,
            word_timestamps=self.options.word_timestamps and final,
            fallback=final,
        )

    def _message(self, result: DecodeResult, offset: float, *, is_final: bool, stable: str) -> dict[str, Any]:
        """The transcript message, redacted as the session asked: a final fully; a partial also masks
        any number still being spoken (it cannot be checked yet), and so does its stable prefix."""
        words = [
            {
                "word": w.word,
                "start": round(offset + w.start, 3),
                "end": round(offset + w.end, 3),
                "confidence": round(w.probability, 4),
            }
            for w in result.words
        ]
        text = result.text
        if self.redactor:
            partial = not is_final
            text, stable = self.redactor.text(text, partial), self.redactor.text(stable, partial)
            words = self.redactor.words(words, partial)
        return proto.transcript_message(self.session_id, text, words, result.language, is_final=is_final, stable=stable)

    def last_message(self) -> dict[str, Any]:
        return proto.last_message(self.session_id, self.options.language, self.total / SAMPLE_RATE)

    def _trim(self, keep_from: int) -> None:
        keep_from = max(keep_from, self.buf_start)
        self.buf = self.buf[keep_from - self.buf_start :]
        self.buf_start = keep_from


def _pick(value: int | float | None, default: int | float) -> Any:
    return default if value is None else value


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def _norm(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


async def serve_session(
    websocket: WebSocket, model: WhisperModel, scheduler: DecodeScheduler, features: Features, settings: AsrSettings
) -> None:
    """Run one accepted WebSocket session to its end; bad frames close it with a proper code."""
    try:
        options = StreamOptions.from_query(websocket.query_params)
        check_language(model, options.language)
        hotwords = features.vocabulary.hotwords(options.keywords)
    except InvalidOption as exc:
        await end_with_error(websocket, ProtocolError(422, proto.ERROR_INVALID_PARAMETER, str(exc), exc.param))
        return
    except ProtocolError as exc:
        await end_with_error(websocket, exc)
        return
    sending = asyncio.Lock()  # partials arrive from their own tasks: one message at a time

    async def emit(message: dict[str, Any]) -> None:
        async with sending:
            await websocket.send_json(message)

    session = Session(scheduler=scheduler, settings=settings, options=options, emit=emit, hotwords=hotwords)
    started = time.monotonic()
    reason = "closed"
    try:
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), settings.asr_stream_idle_timeout_s)
            except TimeoutError:
                raise ProtocolError(408, proto.ERROR_IDLE, "no audio or control message received in time") from None
            if message["type"] == "websocket.disconnect":
                reason = "client_gone"
                return
            if message.get("bytes") is not None:
                data = message["bytes"]
                proto.check_audio_frame(data)
                await session.on_audio(data)
                if session.total > settings.asr_stream_max_session_s * SAMPLE_RATE:
                    await session.flush()
                    await emit(session.last_message())
                    raise ProtocolError(403, proto.ERROR_MAX_DURATION, "the session reached its maximum duration")
                continue
            control = proto.parse_control(message.get("text") or "")
            await session.flush()
            if control == proto.FINALIZE and options.vad_events:
                await emit(proto.flushed_message())
            if control == proto.CLOSE_STREAM:
                await session.close()
                await emit(session.last_message())
                await websocket.close(1000)
                return
    except ProtocolError as exc:
        reason = exc.code
        await session.close()
        async with sending:
            await end_with_error(websocket, exc)
    except WebSocketDisconnect:
        reason = "client_gone"
    finally:
        await session.close()
        log.info(
            "stream session ended",
            extra={
                "fields": {
                    "session_id": session.session_id,
                    "audio_s": round(session.total / SAMPLE_RATE, 2),
                    "finals": session.finals,
                    "partials": session.partials,
                    "reason": reason,
                    "s": round(time.monotonic() - started, 2),
                }
            },
        )
