"""The Smallest surface: its classic routes (`POST /v1/speak`, `POST /v1/listen`, `GET
/v1/listen/{request_id}`) and Waves v1 as the `smallestai` SDK (5.x) calls it:

- `POST /waves/v1/tts`: the whole file (`output_format` pcm by default, as Waves does).
- `POST /waves/v1/tts/live`: SSE, `event: audio` / `data: {"audio": <base64>}` ..., then `{"done": true}`.
- `WS /waves/v1/tts/live`: JSON requests `{voice_id, text, continue, flush, sample_rate, speed}` (the
  first sets voice, rate and speed); answers `{"status": "chunk", "data": {"audio": <base64>}}` ...
  `{"status": "complete"}`, then a close.
- `POST /waves/v1/stt/`: raw audio body; `{"status": "success", "transcription", "words", ...}`, with
  `utterances` ({text, start, end, speaker}) when `diarize=true`.
- `WS /waves/v1/stt/live`: the `/v1/listen/stream` session, each message typed `transcription`.
Waves' default rate is 24 kHz. Errors keep the one JSON shape; WebSocket error frames also carry
Waves' `status: "error"` and `message`, which the SDK reads.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, ValidationError

from app import limits
from app.errors import ApplianceError, InvalidParameter
from app.licensing import licensed
from app.services.speech import SpeechPlan, SpeechRequest
from app.services.transcription import Transcript, TranscriptionRequest
from app.sessions.bodies import Body, takes
from app.sessions.fields import LexiconFields
from app.sessions.speech import Frames, SpeechSession, SpeechSessions
from app.sessions.speech_socket import TextFrame, serve_speech_socket
from app.sessions.transcription import FEATURE_PARAMS, TranscriptionSessions, flag, language_of, read_features

router = APIRouter()

# webhook_url / webhook_method: the Waves v1 names of callback_url (which is always POSTed).
_KNOWN = {
    "language", "timestamps", "word_timestamps", "callback_url", "model", "webhook_url", "webhook_method",
    *FEATURE_PARAMS,
}
# Smallest / Deepgram features this engine does not have: say so instead of ignoring them.
_UNSUPPORTED = {"emotion_detection", "age_detection", "gender_detection", "sentiment"}


class SmallestSpeakBody(LexiconFields):
    model_config = ConfigDict(extra="ignore")
    text: str
    voice_id: str | None = None
    sample_rate: int | None = None
    speed: float = 1.0
    add_wav_header: bool = True
    output_format: str = "wav"


class WavesSpeech(LexiconFields):
    """The fields of a Waves TTS request this appliance honours (others, e.g. `model`, are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    text: str
    voice_id: str
    sample_rate: int | None = None
    speed: float | None = None
    language: str | None = None
    output_format: str = "pcm"
    continue_: bool = Field(False, alias="continue")
    flush: bool = False

    def request(self, request_id: str) -> SpeechRequest:
        return SpeechRequest(
            text=self.text, voice_id=self.voice_id, format=self.output_format,
            sample_rate=self.sample_rate or limits.PCM_RATE, speed=self.speed or 1.0, request_id=request_id,
            lexicon=self.lexicon,
        )


@router.post("/v1/speak", tags=["text-to-speech"])
@licensed("tts")
async def speak(body: SmallestSpeakBody, request: Request) -> Response:
    """Smallest-style speech: the whole file. For wav/pcm, `add_wav_header` picks which of the two."""
    sessions: SpeechSessions = request.app.state.speech
    fmt = body.output_format.lower()
    if fmt in ("wav", "pcm"):
        fmt = "wav" if body.add_wav_header else "pcm"
    speech = SpeechRequest(text=body.text, voice_id=body.voice_id, format=fmt, sample_rate=body.sample_rate,
                           speed=body.speed, request_id=getattr(request.state, "request_id", ""),
                           lexicon=body.lexicon)
    plan = await sessions.plan(request, speech, text_param="text", format_param="output_format")
    return await sessions.audio_response(request, plan, stream=False)


@router.post("/v1/listen", tags=["speech-to-text"])
@licensed("asr")
@takes(Body.UPLOAD)
async def listen(request: Request) -> JSONResponse:
    """The transcript (`words` with `timestamps=true`); with `diarize=true`, `words[].speaker` and
    `utterances[]`; `keywords`, `redact_pii` / `redact_pci` / `redact` as the README describes."""
    result = await _transcribe(request)
    if isinstance(result, str):
        return JSONResponse({"request_id": result, "status": "queued"}, status_code=202)
    return JSONResponse(result.model_dump(exclude_none=True))


@router.get("/v1/listen/{request_id}", tags=["speech-to-text"])
@licensed("asr")
async def listen_result(request: Request, request_id: str) -> JSONResponse:
    return JSONResponse(await request.app.state.transcription.result(request, request_id))


def _params(request: Request, form: dict[str, list[str]]) -> dict[str, str]:
    params = dict(request.query_params.items()) | {k: v[-1] for k, v in form.items()}
    for name in params:
        if name in _UNSUPPORTED:
            raise InvalidParameter(f"{name} is not supported by this speech-to-text engine", param=name)
        if name not in _KNOWN:
            raise InvalidParameter(f"unknown parameter {name!r} (accepted: {', '.join(sorted(_KNOWN))})", param=name)
    if params.get("webhook_method", "POST").upper() != "POST":
        raise InvalidParameter("webhook_method must be POST: results are POSTed", param="webhook_method")
    return params


async def _transcribe(request: Request) -> Transcript | str:
    """The transcript of the audio in the body (raw or multipart), or the job id when a callback
    will get it."""
    sessions: TranscriptionSessions = request.app.state.transcription
    language = language_of(_params(request, {}).get("language"))
    read_features(request.query_params.getlist)  # a bad option is refused before the upload is read
    upload = await sessions.upload(request, file_fields=("audio", "file"), allow_raw=True, language=language)
    params = _params(request, upload.fields)
    words = flag(params.get("timestamps"), "timestamps") or flag(params.get("word_timestamps"), "word_timestamps")
    callback = params.get("callback_url") or params.get("webhook_url") or None
    features = read_features(lambda name: request.query_params.getlist(name) + upload.fields.get(name, []))
    options = TranscriptionRequest(language=language, word_timestamps=words, callback_url=callback, features=features)
    return await sessions.transcribe(request, upload.data, options)


async def _plan(request: Request, body: WavesSpeech) -> SpeechPlan:
    return await request.app.state.speech.plan(  # type: ignore[no-any-return]
        request, body.request(getattr(request.state, "request_id", "")), text_param="text",
        format_param="output_format",
    )


@router.post("/waves/v1/tts", tags=["waves"])
@licensed("tts")
async def waves_tts(body: WavesSpeech, request: Request) -> Response:
    return await request.app.state.speech.audio_response(request, await _plan(request, body), stream=False)  # type: ignore[no-any-return]


@router.post("/waves/v1/tts/live", tags=["waves"])
@licensed("tts")
async def waves_tts_sse(body: WavesSpeech, request: Request) -> Response:
    frames = Frames[bytes](
        item=lambda part: f"event: audio\ndata: {json.dumps({'audio': base64.b64encode(part).decode()})}\n\n",
        error=lambda failure: f"event: error\ndata: {json.dumps(failure.body())}\n\n",
        last=f"data: {json.dumps({'done': True})}\n\n",
    )
    return await request.app.state.speech.framed_audio(request, await _plan(request, body), frames, "text/event-stream")  # type: ignore[no-any-return]


class WavesWire:
    """The Waves live socket over the speech session loop."""

    def __init__(self) -> None:
        self.request_id = uuid.uuid4().hex

    def opening(self, message: dict[str, Any]) -> SpeechRequest:
        body = _waves(message)
        if body.output_format.lower() != "pcm":
            raise InvalidParameter("the live WebSocket sends pcm only", param="output_format")
        return body.request(self.request_id)

    def read(self, message: dict[str, Any]) -> TextFrame:
        body = _waves(message)
        return TextFrame(text=body.text, flush=body.flush, end=not body.continue_)

    async def ready(self, websocket: WebSocket, session: SpeechSession) -> None:
        return None

    async def audio(self, websocket: WebSocket, data: bytes) -> None:
        audio = base64.b64encode(data).decode()
        await websocket.send_json({"status": "chunk", "request_id": self.request_id, "data": {"audio": audio}})

    async def flushed(self, websocket: WebSocket, session: SpeechSession) -> None:
        return None

    async def done(self, websocket: WebSocket, session: SpeechSession) -> None:
        await websocket.send_json({"status": "complete", "request_id": self.request_id, "data": {}})

    def error(self, error: ApplianceError) -> dict[str, Any]:
        return {**error.body(), "status": "error", "message": error.message}


def _waves(message: dict[str, Any]) -> WavesSpeech:
    try:
        return WavesSpeech.model_validate(message)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or "message"
        raise InvalidParameter(f"{param}: {first['msg']}", param=param) from None


@router.websocket("/waves/v1/tts/live")
@licensed("tts", "streaming")
async def waves_tts_live(websocket: WebSocket) -> None:
    await serve_speech_socket(websocket, websocket.app.state.speech, WavesWire())


@router.post("/waves/v1/stt/", tags=["waves"])
@router.post("/waves/v1/stt", tags=["waves"], include_in_schema=False)
@licensed("asr")
@takes(Body.UPLOAD)
async def waves_stt(request: Request) -> JSONResponse:
    result = await _transcribe(request)
    if isinstance(result, str):  # a webhook will get it
        return JSONResponse({"status": "processing", "request_id": result})
    body: dict[str, Any] = {
        "status": "success", "request_id": result.request_id, "transcription": result.text,
        "language": result.language, "metadata": {"duration": result.duration},
    }
    if result.words is not None:
        body["words"] = [w.model_dump(exclude_none=True) for w in result.words]
    if result.utterances is not None:
        body["utterances"] = [
            {"text": u.transcript, "start": u.start, "end": u.end, "speaker": u.speaker} for u in result.utterances
        ]
    return JSONResponse(body)


@router.websocket("/waves/v1/stt/live")
@licensed("asr", "streaming")
async def waves_stt_live(websocket: WebSocket) -> None:
    sessions: TranscriptionSessions = websocket.app.state.transcription
    await sessions.serve_stream(websocket, lambda message: {"type": "transcription", **message})
