"""The streaming-ASR contract between the gateway and the ASR workers, imported by both sides.

A session is one WebSocket to a worker's `PATH`, its options in the query (`StreamOptions`):
language, word timestamps, VAD events and settings, the decoder prompt, keywords (comma-separated)
and redaction categories (comma-separated; every transcript of the session is redacted, partials
conservatively). Speaker labels are offline only: no streaming option asks for them.

Gateway -> worker:
- binary frames: mono PCM16 little-endian at `SAMPLE_RATE`, whole samples only;
- text frames: a control message `{"type": "finalize" | "close_stream"}` (`parse_control`).

Worker -> gateway (text frames, JSON):
- transcripts (no `type`): `transcript_message` — partials (`is_final` false, `stable` the words two
  partials agree on) and finals; the session's last message has `is_last` true (`last_message`);
- with `vad_events`: `{"type": "speech_started", "audio_start_ms"}`, `{"type": "speech_stopped",
  "audio_end_ms"}` before that utterance's final, and `{"type": "flushed"}` after each finalize;
- an error: common.ws_errors' frame, then a close whose code follows from the error's status.
  The codes a worker sends are the `ERROR_*` names below.

Every time is in milliseconds or seconds of the session's own audio (it starts at 0).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.asr_jobs import SAMPLE_RATE  # noqa: F401  (the contract's audio rate, as for batch jobs)
from common.asr_options import Category, InvalidOption, categories, category_names, parse_keywords
from common.ws_errors import error_body, error_type_for

PATH = "/v1/stream"
FINALIZE = "finalize"
CLOSE_STREAM = "close_stream"
CONTROL_TYPES = (FINALIZE, CLOSE_STREAM)

SPEECH_STARTED = "speech_started"
SPEECH_STOPPED = "speech_stopped"
FLUSHED = "flushed"

# Error codes a worker ends a session with (the HTTP status of the same error picks the close code).
ERROR_STARTING = "starting"  # 503: the model is still loading
ERROR_IDLE = "idle_timeout"  # 408: nothing received for ASR_STREAM_IDLE_TIMEOUT_S
ERROR_MAX_DURATION = "max_duration"  # 403: ASR_STREAM_MAX_SESSION_S of audio reached
ERROR_INVALID_AUDIO = "invalid_audio"  # 400: half a sample
ERROR_INVALID_JSON = "invalid_json"  # 400: a text frame that is not JSON
ERROR_UNKNOWN_CONTROL = "unknown_control"  # 422: JSON that is not a control message
ERROR_INVALID_PARAMETER = "invalid_parameter"  # 422: a bad option in the query

MAX_PROMPT_CHARS = 1000  # a decoder prompt beyond this would crowd out the transcript (448 tokens)


class ProtocolError(Exception):
    """A violation of this contract; `status` is the HTTP status of the same error."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, code=self.code, error_type=error_type_for(self.status), param=self.param)


class StreamOptions(BaseModel):
    """A session's options. Fields left None take the worker's defaults (its ASR_STREAM_* settings).

    The VAD fields are OpenAI Realtime's `turn_detection` (server_vad) in the worker's terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str | None = Field(None, min_length=1, max_length=16)
    word_timestamps: bool = False
    vad_events: bool = False
    vad_threshold: float | None = Field(None, ge=0.0, le=1.0, description="speech probability threshold")
    silence_duration_ms: int | None = Field(None, ge=100, le=10_000, description="pause that ends an utterance")
    prefix_padding_ms: int | None = Field(None, ge=0, le=2000, description="audio kept before speech starts")
    prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS, description="decoder prompt (vocabulary, style)")
    keywords: tuple[str, ...] = Field((), description="names and terms to expect (Whisper hotwords)")
    redact: frozenset[Category] = Field(frozenset(), description="what to redact from every transcript")

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: Any) -> tuple[str, ...]:
        return tuple(parse_keywords(value))  # a list, or the comma-separated form of the URL

    @field_validator("redact", mode="before")
    @classmethod
    def _redact(cls, value: Any) -> frozenset[Category]:
        return value if isinstance(value, frozenset) else categories(redact=value)

    def to_query(self) -> dict[str, str]:
        """The query string of the worker's session URL (only the fields that are set)."""
        query: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if value is False or value == "" or value == () or value == frozenset():
                continue
            if isinstance(value, bool):
                query[name] = str(value).lower()
            elif isinstance(value, frozenset):
                query[name] = category_names(value)
            elif isinstance(value, tuple):
                query[name] = ",".join(value)
            else:
                query[name] = str(value)
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> StreamOptions:
        """The options of a session URL; a bad or unknown one is a ProtocolError (422) naming it."""
        try:
            return cls.model_validate({k: v for k, v in query.items() if v != ""})
        except ValidationError as exc:
            raise invalid_options(exc) from None


def invalid_options(exc: ValidationError) -> ProtocolError:
    """Options this contract refuses, as the ProtocolError (422) naming the first one."""
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, InvalidOption):  # common.asr_options' own message says it best
        return ProtocolError(422, ERROR_INVALID_PARAMETER, str(cause), cause.param)
    return ProtocolError(422, ERROR_INVALID_PARAMETER, f"{param}: {first['msg']}", param)


def parse_control(text: str) -> str:
    """The type of a control message (a text frame from the gateway)."""
    try:
        control = json.loads(text)
    except ValueError:
        raise ProtocolError(400, ERROR_INVALID_JSON, "text frames must be JSON control messages") from None
    kind = control.get("type") if isinstance(control, dict) else None
    if kind not in CONTROL_TYPES:
        raise ProtocolError(
            422, ERROR_UNKNOWN_CONTROL, 'control messages are {"type": "finalize"} or {"type": "close_stream"}', "type"
        )
    return str(kind)


def control_message(kind: str) -> str:
    if kind not in CONTROL_TYPES:
        raise ValueError(f"not a control message type: {kind!r}")
    return json.dumps({"type": kind})


def check_audio_frame(data: bytes) -> None:
    if len(data) % 2:
        raise ProtocolError(400, ERROR_INVALID_AUDIO, "binary frames must hold whole 16-bit little-endian samples")


def transcript_message(
    session_id: str,
    text: str,
    words: list[dict[str, Any]],
    language: str | None,
    *,
    is_final: bool,
    stable: str,
) -> dict[str, Any]:
    """A partial or final transcript; `words` are `{word, start, end, confidence}` in session seconds."""
    return {
        "session_id": session_id,
        "transcript": text,
        "stable": stable,
        "is_final": is_final,
        "is_last": False,
        "words": words,
        "language": language,
    }


def last_message(session_id: str, language: str | None, duration_s: float) -> dict[str, Any]:
    """The session's end: after it the worker closes normally."""
    return {
        "session_id": session_id,
        "transcript": "",
        "is_final": True,
        "is_last": True,
        "words": [],
        "language": language,
        "duration": round(duration_s, 3),
    }


def vad_event(kind: str, ms: int) -> dict[str, Any]:
    """speech_started (at `audio_start_ms`) or speech_stopped (at `audio_end_ms`)."""
    if kind == SPEECH_STARTED:
        return {"type": kind, "audio_start_ms": ms}
    if kind == SPEECH_STOPPED:
        return {"type": kind, "audio_end_ms": ms}
    raise ValueError(f"not a VAD event: {kind!r}")


def flushed_message() -> dict[str, Any]:
    return {"type": FLUSHED}

