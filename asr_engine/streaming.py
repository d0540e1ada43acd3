"""One streaming session: PCM16 16 kHz in, partial and final transcripts out.

Endpointing: Silero VAD per 32 ms window; an utterance starts at the first speech window and ends
after `asr_stream_endpoint_ms` of non-speech, which triggers its final at once. While speech goes
on, a partial is sent every `asr_stream_partial_interval_s` of audio. Partials carry `stable`: the
words two consecutive partials agree on, which later partials are unlikely to change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from faster_whisper import WhisperModel

from common.asr_jobs import SAMPLE_RATE
from common.ws_errors import error_body, error_type_for, send_error

from .settings import AsrSettings
from .transcriber import InvalidRequest, check_language
from .vad import WINDOW, StreamingVad

log = logging.getLogger(__name__)

PAD = SAMPLE_RATE * 3 // 10  # 300 ms kept around speech: VAD onsets are late, Whisper likes context


class SessionClosed(Exception):
    """Ends a session with an error; `status` is the HTTP status of the same error, which picks the
    close code (common.ws_errors, shared with the gateway)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message

    async def send(self, websocket: WebSocket) -> None:
        body = error_body(self.message, code=self.code, error_type=error_type_for(self.status))
        await send_error(websocket, body, self.status)


@dataclass
class StreamOptions:
    language: str | None = None
    word_timestamps: bool = False


@dataclass
class Session:
    model: WhisperModel
    settings: AsrSettings
    options: StreamOptions
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

    # --- audio -----------------------------------------------------------------------------------
    async def on_audio(self, pcm: bytes) -> list[dict[str, Any]]:
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.buf = np.concatenate([self.buf, audio])
        self.total += len(audio)
        out: list[dict[str, Any]] = []
        endpoint = self.settings.asr_stream_endpoint_ms * SAMPLE_RATE // 1000
        threshold = self.settings.asr_stream_vad_threshold
        for prob in self.vad.feed(audio):
            window_start, self.vad_pos = self.vad_pos, self.vad_pos + WINDOW
            if prob >= threshold:
                if self.speech_start is None:
                    self.speech_start = window_start
                    self.last_partial_at = window_start
                self.last_speech = self.vad_pos
            elif self.speech_start is not None and self.vad_pos - self.last_speech >= endpoint:
                out.append(await self._final(self.last_speech + PAD))
        if self.speech_start is not None:
            spoken = self.vad_pos - self.speech_start
            if spoken >= self.settings.asr_stream_max_utterance_s * SAMPLE_RATE:
                out.append(await self._final(self.vad_pos))
            elif self._partial_due():
                self.last_partial_at = self.vad_pos
                out.append(await self._partial())
        else:  # no speech pending: keep only the pre-roll
            self._trim(self.total - PAD)
        return out

    def _partial_due(self) -> bool:
        # Only while the speaker is talking: a partial started in the pause before an endpoint
        # would hold up that utterance's final.
        interval = self.settings.asr_stream_partial_interval_s * SAMPLE_RATE
        return self.last_speech == self.vad_pos and self.vad_pos - self.last_partial_at >= interval

    async def flush(self) -> list[dict[str, Any]]:
        """The client asked for everything pending (finalize / close_stream)."""
        if self.speech_start is None:
            return []
        return [await self._final(self.total)]

    # --- results ---------------------------------------------------------------------------------
    async def _partial(self) -> dict[str, Any]:
        assert self.speech_start is not None
        start = max(self.speech_start - PAD, self.buf_start)
        text, words, language = await self._transcribe(start, self.total, final=False)
        tokens = text.split()
        stable = 0
        while stable < min(len(tokens), len(self.previous_words)) and _norm(tokens[stable]) == _norm(
            self.previous_words[stable]
        ):
            stable += 1
        self.previous_words = tokens
        return self._message(text, words, language, is_final=False, stable=" ".join(tokens[:stable]))

    async def _final(self, end: int) -> dict[str, Any]:
        assert self.speech_start is not None
        start = max(self.speech_start - PAD, self.buf_start)
        end = min(end, self.total)
        text, words, language = await self._transcribe(start, end, final=True)
        self.speech_start = None
        self.previous_words = []
        self.finals += 1
        self._trim(end)
        return self._message(text, words, language, is_final=True, stable=text)

    async def _transcribe(
        self, start: int, end: int, *, final: bool
    ) -> tuple[str, list[dict[str, Any]], str]:
        audio = self.buf[start - self.buf_start : end - self.buf_start].copy()
        offset = start / SAMPLE_RATE
        want_words = self.options.word_timestamps and final

        def run() -> tuple[str, list[dict[str, Any]], str]:
            segments, info = self.model.transcribe(
                audio,
                language=self.options.language,
                beam_size=self.settings.asr_beam_size if final else 1,
                word_timestamps=want_words,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            texts: list[str] = []
            words: list[dict[str, Any]] = []
            for seg in segments:
                texts.append(seg.text.strip())
                for w in seg.words or []:
                    words.append(
                        {
                            "word": w.word.strip(),
                            "start": round(offset + w.start, 3),
                            "end": round(offset + w.end, 3),
                            "confidence": round(w.probability, 4),
                        }
                    )
            return " ".join(t for t in texts if t), words, info.language

        return await asyncio.to_thread(run)

    def _message(
        self, text: str, words: list[dict[str, Any]], language: str, *, is_final: bool, stable: str
    ) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "transcript": text,
            "stable": stable,
            "is_final": is_final,
            "is_last": False,
            "words": words,
            "language": language,
        }

    def last_message(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "transcript": "",
            "is_final": True,
            "is_last": True,
            "words": [],
            "language": self.options.language,
            "duration": round(self.total / SAMPLE_RATE, 3),
        }

    def _trim(self, keep_from: int) -> None:
        keep_from = max(keep_from, self.buf_start)
        self.buf = self.buf[keep_from - self.buf_start :]
        self.buf_start = keep_from


def _norm(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


async def serve_session(websocket: WebSocket, model: WhisperModel, settings: AsrSettings) -> None:
    """Run one accepted WebSocket session to its end; bad frames close it with a proper code."""
    try:
        options = StreamOptions(
            language=websocket.query_params.get("language") or None,
            word_timestamps=websocket.query_params.get("word_timestamps", "false").lower() in ("1", "true"),
        )
        check_language(model, options.language)
    except InvalidRequest as exc:
        await SessionClosed(422, "invalid_parameter", str(exc)).send(websocket)
        return
    session = Session(model=model, settings=settings, options=options)
    started = time.monotonic()
    reason = "closed"
    try:
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), settings.asr_stream_idle_timeout_s)
            except TimeoutError:
                raise SessionClosed(
                    408, "idle_timeout", "no audio or control message received in time"
                ) from None
            if message["type"] == "websocket.disconnect":
                reason = "client_gone"
                return
            if message.get("bytes") is not None:
                data = message["bytes"]
                if len(data) % 2:
                    raise SessionClosed(400, "invalid_audio", "binary frames must hold whole 16-bit samples")
                for out in await session.on_audio(data):
                    await websocket.send_json(out)
                if session.total > settings.asr_stream_max_session_s * SAMPLE_RATE:
                    for out in await session.flush():
                        await websocket.send_json(out)
                    await websocket.send_json(session.last_message())
                    raise SessionClosed(403, "max_duration", "the session reached its maximum duration")
                continue
            control = _parse_control(message.get("text") or "")
            for out in await session.flush():
                await websocket.send_json(out)
            if control == "close_stream":
                await websocket.send_json(session.last_message())
                await websocket.close(1000)
                return
    except SessionClosed as exc:
        reason = exc.code
        await exc.send(websocket)
    except WebSocketDisconnect:
        reason = "client_gone"
    finally:
        log.info(
            "stream session ended",
            extra={
                "fields": {
                    "session_id": session.session_id,
                    "audio_s": round(session.total / SAMPLE_RATE, 2),
                    "finals": session.finals,
                    "reason": reason,
                    "s": round(time.monotonic() - started, 2),
                }
            },
        )


def _parse_control(text: str) -> str:
    try:
        control = json.loads(text)
    except ValueError:
        raise SessionClosed(400, "invalid_json", "text frames must be JSON control messages") from None
    kind = control.get("type") if isinstance(control, dict) else None
    if kind not in ("finalize", "close_stream"):
        raise SessionClosed(
            422, "unknown_control", 'control messages are {"type": "finalize" | "close_stream"}'
        )
    return str(kind)
