"""Transcription sessions: how every speech-to-text surface transcribes. This layer owns, once for
every surface: reading an upload (before any work starts, a down worker answers 503 at once; its
byte cap is app.sessions.bodies'), admission (`ASR_MAX_ACTIVE` slots: an upload is decoded only in
one, and a synchronous transcription keeps it until its result), usage metering (the audio seconds
received), and streaming sessions with a worker over common/asr_stream.py's contract, proxied
to a client as they are (`serve_stream`) or kept in turns across worker sessions (app.sessions.turns).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import av
import numpy as np
from fastapi import Request, WebSocket
from pydantic import ValidationError

from app import limits
from app.audio.decode import TARGET_RATE
from app.errors import (
    ApplianceError,
    BadRequest,
    InvalidParameter,
    UnsupportedMedia,
    UpstreamStreamFailed,
    from_protocol,
)
from app.services.transcription import Features, Transcript, TranscriptionRequest, TranscriptionService
from app.sessions.admission import EngineLimiter
from common import asr_stream
from common.aio import cancel_and_wait
from common.asr_options import InvalidOption, categories, parse_keywords, speaker_hints
from common.asr_stream import StreamOptions
from common.ws_errors import is_deliberate

from .sockets import fail, receive
from .uploads import Upload, read_upload
from .usage import Usage

Reshape = Callable[[dict[str, Any]], dict[str, Any]]


def owner_of(request: Request) -> str:
    """The key id of the caller (app.access), "" on an open API."""
    caller = getattr(request.state, "caller", None)
    return (caller.key_id or "") if caller is not None else ""


def language_of(value: str | None) -> str | None:
    """A requested language; None (detect) for none, `auto` or `multi`."""
    return None if not value or value in ("auto", "multi") else value


def flag(value: str | None, name: str) -> bool:
    """A boolean query or form value."""
    if value is None or value.lower() in ("", "false", "0", "no"):
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    raise InvalidParameter(f"{name} must be true or false", param=name)


# Smallest's and Deepgram's names of what a request asks beyond the transcript.
FEATURE_PARAMS = (
    "diarize", "num_speakers", "min_speakers", "max_speakers", "keywords", "redact_pii", "redact_pci", "redact",
)


def read_features(values: Callable[[str], list[str]]) -> Features:
    """The features a request asks for, by Smallest's and Deepgram's names; `values(name)` gives every
    value of a parameter (`keywords` and `redact` may be repeated or comma-separated)."""

    def last(name: str) -> str | None:
        found = values(name)
        return found[-1] if found else None

    try:
        return Features(
            diarize=flag(last("diarize"), "diarize"),
            speakers=speaker_hints(**{name: last(name) for name in ("num_speakers", "min_speakers", "max_speakers")}),
            keywords=tuple(parse_keywords(values("keywords"))),
            redact=categories(
                redact_pii=flag(last("redact_pii"), "redact_pii"),
                redact_pci=flag(last("redact_pci"), "redact_pci"),
                redact=values("redact"),
            ),
        )
    except InvalidOption as exc:
        raise InvalidParameter(str(exc), param=exc.param) from None


class TranscriptionSessions:
    """What the lifespan keeps at `app.state.transcription`: the service behind the ASR slots."""

    def __init__(self, service: TranscriptionService, limiter: EngineLimiter | None) -> None:
        self.service = service
        self.limiter = limiter  # bounds decoding, and synchronous transcriptions waiting on the queue

    async def upload(
        self, request: Request, *, file_fields: tuple[str, ...], allow_raw: bool, language: str | None = None
    ) -> Upload:
        """The request's audio (and form fields), read once the worker and the queue are ready and
        `language`, if already known, is one the model has."""
        self.service.check_ready()  # before reading a large body: a down worker answers 503 at once
        self.service.check_language(language)
        return await read_upload(request, file_fields=file_fields, allow_raw=allow_raw)

    async def transcribe(self, request: Request, data: bytes, options: TranscriptionRequest) -> Transcript | str:
        """The transcript of `data`, or the job id when a callback will get it (its result readable
        by the key that sent it only)."""
        options = replace(options, owner=owner_of(request))
        await self.service.check_callback(options.callback_url)
        # Nothing is decoded outside a slot: decoding is where an upload's memory and CPU go.
        async with self.limiter.slot() if self.limiter else contextlib.nullcontext():
            audio = await self.service.decode(data)
            Usage(request).audio_seconds = audio.duration
            if options.callback_url:
                return await self.service.submit(audio, options)
            return await self.service.transcribe(audio, options)

    async def result(self, request: Request, job_id: str) -> dict[str, Any]:
        """A queued job's result or state, for the key that created it (404 for any other)."""
        return await self.service.lookup(job_id, owner_of(request))

    async def serve_stream(self, websocket: WebSocket, reshape: Reshape | None = None) -> None:
        """One `/v1/listen/stream` session (its query: `StreamRequest`), proxied to a worker session;
        `reshape` turns the worker's messages into a surface's own."""
        await websocket.accept()
        try:  # validate and reserve the worker before any audio flows
            request = StreamRequest.from_query(websocket.query_params.getlist)
            audio = StreamAudio(request.sample_rate, request.encoding, Usage(websocket))
            self.service.components.require("asr")
            self.service.check_language(request.options.language)
            upstream = await self.service.client.open_stream(request.options)
        except ApplianceError as exc:
            await fail(websocket, exc)
            return
        try:
            await _proxy(websocket, upstream, audio, reshape)
        finally:
            await upstream.close()


@dataclass(frozen=True)
class StreamRequest:
    """A streaming session's query: `sample_rate` (default 16000), `encoding` (linear16),
    `language`, `word_timestamps` (or `timestamps`), `keywords`, and redaction (`redact_pii`,
    `redact_pci`, `redact`). `diarize=true` is refused: speaker labels are offline only."""

    sample_rate: int
    encoding: str
    options: StreamOptions

    @classmethod
    def from_query(cls, values: Callable[[str], list[str]]) -> StreamRequest:
        """From `values(name)`, every value the query gives a parameter."""

        def last(name: str, default: str | None = None) -> str | None:
            found = values(name)
            return found[-1] if found else default

        try:
            rate = int(last("sample_rate", str(limits.LISTEN_STREAM_RATE)) or "")
        except ValueError:
            raise InvalidParameter("sample_rate must be an integer", param="sample_rate") from None
        words = flag(last("word_timestamps") or last("timestamps"), "word_timestamps")
        features = read_features(values)
        if features.diarize:
            raise InvalidParameter(
                "speaker labels need the whole recording: use POST /v1/listen with diarize=true "
                "(live sessions do not label speakers)",
                param="diarize",
            )
        try:
            options = StreamOptions(
                language=language_of(last("language")),
                word_timestamps=words,
                keywords=features.keywords,
                redact=features.redact,
            )
        except ValidationError as exc:  # what the worker contract refuses, e.g. a 40-letter language
            raise from_protocol(asr_stream.invalid_options(exc)) from None
        return cls(rate, last("encoding", "linear16") or "linear16", options)


class StreamAudio:
    """Client audio of one streaming session: validated, counted, metered and resampled to the
    contract's 16 kHz PCM16."""

    def __init__(self, sample_rate: int, encoding: str, usage: Usage | None = None, before_s: float = 0.0) -> None:
        if encoding != "linear16":
            raise UnsupportedMedia(f"encoding {encoding!r} is not supported; use linear16", param="encoding")
        limits.check(sample_rate, limits.SAMPLE_RATE, "sample_rate", " Hz")
        self.sample_rate = sample_rate
        self.samples = 0
        self._usage, self._before_s = usage, before_s  # audio of the session before this object
        self._resampler = (
            None
            if sample_rate == TARGET_RATE
            else av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)
        )

    @property
    def seconds(self) -> float:
        """Seconds of the session's audio, this object's and what came before it."""
        return self._before_s + self.samples / self.sample_rate

    def convert(self, data: bytes) -> bytes:
        if len(data) % 2:
            raise BadRequest("binary frames must hold whole 16-bit little-endian samples")
        self.samples += len(data) // 2
        if self._usage is not None:
            self._usage.audio_seconds = self.seconds
        if self._resampler is None or not data:
            return data
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(data, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.sample_rate
        return b"".join(
            bytes(out.to_ndarray().astype("<i2").tobytes()) for out in self._resampler.resample(frame)
        )


def parse_control(text: str) -> str:
    """A client's text frame must be a control message of the worker contract; returns its type."""
    try:
        return asr_stream.parse_control(text)
    except asr_stream.ProtocolError as exc:
        raise from_protocol(exc) from None


async def _proxy(
    websocket: WebSocket, upstream: aiohttp.ClientWebSocketResponse, audio: StreamAudio, reshape: Reshape | None
) -> None:
    async def client_to_worker() -> None:
        while True:
            try:
                message = await receive(websocket)
                assert message is not None
                if message.get("bytes") is not None:
                    if pcm := audio.convert(message["bytes"]):
                        await _forward(upstream.send_bytes(pcm))
                    continue
                kind = parse_control(message.get("text") or "")
            except ApplianceError as exc:
                await fail(websocket, exc)
                return
            await _forward(upstream.send_str(asr_stream.control_message(kind)))

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
            await fail(websocket, UpstreamStreamFailed("the ASR worker ended the session unexpectedly"))

    # Whichever side ends first ends the session: the client leaving or sending a bad frame, or
    # the worker closing after is_last (or failing).
    tasks = [asyncio.create_task(client_to_worker()), asyncio.create_task(worker_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(tasks, ignore_errors=True)  # the client leaving ends it too (ClientGone)


async def _forward(send: Awaitable[None]) -> None:
    """Send to the worker. If its connection is gone (it died), wait instead of failing: the session
    then ends through worker_to_client's error frame rather than this exception cutting it short."""
    try:
        await send
    except (ConnectionError, aiohttp.ClientError):
        await asyncio.Event().wait()
