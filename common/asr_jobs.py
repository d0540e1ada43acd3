"""The batch-job contract between the gateway and the ASR workers, kept in Redis.

Shared by both sides so that key names and field names cannot drift apart. No heavy imports here:
the gateway imports this module and must not pull in faster-whisper.

Flow: the gateway stores the audio (16 kHz mono PCM16) under `audio_key`, writes `meta_key`
(status "queued") and XADDs a job to `STREAM`. A worker of `GROUP` reads it, transcribes, writes the
result with SET NX under `result_key` (a retry after a crash cannot write a second one), and only
if that write won, LPUSHes `done_key` (the gateway BLPOPs it) and XADDs a callback job when the
request named a callback_url. Then it XACKs. Jobs held by a dead worker are XAUTOCLAIMed.
The worker's last step (that same script) deletes the job's audio: once transcribed, it is gone.

The gateway alone keeps two more: `QUEUED_AUDIO`, the ids of jobs whose audio may still be stored
(what it counts against its byte budget, dropping ids whose audio has gone), and `owner_key`, the id
of the API key that created a job (only that key may read its result).

A result is `{"status": "done", request_id, text, language, language_probability, duration, segments,
words}` (`words` empty unless word timestamps or speaker labels were asked for); with `diarize`,
`words[].speaker` / `speaker_confidence`, `segments[].speaker` (cut where the speaker changes) and
`utterances`; with `redact`, only the redacted form. A failure is `{"status": "failed", "error":
{code, message, param}}`: `invalid_parameter` (a 422 naming `param`), `unavailable` (the worker lacks
what the job needs), `not_found`, `internal_error`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from common.asr_options import Category, SpeakerHints, categories, parse_keywords

STREAM = "asr:jobs"
GROUP = "asr-workers"
CALLBACK_STREAM = "asr:callbacks"
CALLBACK_GROUP = "asr-callbacks"
SAMPLE_RATE = 16000


def audio_key(job_id: str) -> str:
    return f"asr:audio:{job_id}"


def meta_key(job_id: str) -> str:
    return f"asr:meta:{job_id}"


def result_key(job_id: str) -> str:
    return f"asr:result:{job_id}"


def done_key(job_id: str) -> str:
    return f"asr:done:{job_id}"


QUEUED_AUDIO = "asr:audio:queued"


def owner_key(job_id: str) -> str:
    return f"asr:owner:{job_id}"


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Job:
    """One batch transcription. Every field travels as a string in the stream entry."""

    job_id: str
    duration: float
    language: str = ""  # empty: detect
    word_timestamps: bool = False
    prompt: str = ""
    temperature: float = 0.0
    callback_url: str = ""
    # Speaker labels (the whole recording at once, after the transcript, with word timestamps).
    diarize: bool = False
    num_speakers: int = 0  # 0: not given
    min_speakers: int = 0
    max_speakers: int = 0
    keywords: str = ""  # comma-separated, as common.asr_options.parse_keywords gave them
    redact: str = ""  # comma-separated categories (common.asr_options.category_names)

    def hints(self) -> SpeakerHints:
        return SpeakerHints(self.num_speakers or None, self.min_speakers or None, self.max_speakers or None)

    def keyword_list(self) -> list[str]:
        return parse_keywords(self.keywords)

    def redactions(self) -> frozenset[Category]:
        return categories(redact=self.redact)

    def to_fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            out[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_fields(cls, raw: dict[bytes | str, bytes | str]) -> Job:
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            kind = known[name].type
            if kind == "bool":
                kwargs[name] = value == "1"
            elif kind == "float":
                kwargs[name] = float(value)
            elif kind == "int":
                kwargs[name] = int(value)
            else:
                kwargs[name] = value
        return cls(**kwargs)


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def loads(raw: bytes | str | None) -> dict[str, Any] | None:
    return None if raw is None else json.loads(raw)
