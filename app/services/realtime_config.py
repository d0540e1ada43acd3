"""The session settings of an OpenAI Realtime transcription session: the `session` object of
`session.update` (GA shape) or `transcription_session.update` (beta shape) read into one typed
config, and written back in the shape the client used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from app import bounds
from app.errors import InvalidParameter, UnsupportedMedia

OPENAI_RATE = 24000  # the Realtime API's audio/pcm rate
DEFAULT_TURN_DETECTION: dict[str, Any] = {
    "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
}


@dataclass
class RealtimeConfig:
    model: str = "gpt-4o-transcribe"
    language: str | None = None
    prompt: str = ""
    rate: int = OPENAI_RATE
    turn_detection: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_TURN_DETECTION))
    legacy: bool = False  # answer in the beta `transcription_session.*` shape

    def session(self, session_id: str) -> dict[str, Any]:
        transcription = {"model": self.model, "language": self.language, "prompt": self.prompt}
        if self.legacy:
            return {
                "id": session_id, "object": "realtime.transcription_session",
                "input_audio_format": "pcm16", "input_audio_transcription": transcription,
                "turn_detection": self.turn_detection, "input_audio_noise_reduction": None,
            }
        return {
            "type": "transcription", "id": session_id, "object": "realtime.transcription_session",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": self.rate},
                "transcription": transcription,
                "turn_detection": self.turn_detection,
                "noise_reduction": None,
            }},
            "include": None,
        }


def updated(
    config: RealtimeConfig, session: Any, *, legacy: bool, check_language: Callable[[str | None], None]
) -> RealtimeConfig:
    """`config` with a client's `session` object applied; a field left out keeps its value."""
    if not isinstance(session, dict):
        raise InvalidParameter("session must be an object", param="session")
    config = replace(config, legacy=legacy)
    if legacy:
        fmt, where = session.get("input_audio_format"), "session.input_audio_format"
        if fmt not in (None, "pcm16"):
            raise UnsupportedMedia(f"input_audio_format {fmt!r} is not supported; use pcm16", param=where)
        transcription, turn = session.get("input_audio_transcription"), session.get("turn_detection", ...)
        prefix = "session.input_audio_transcription"
    else:
        audio = session.get("audio") or {}
        audio_in = (audio.get("input") or {}) if isinstance(audio, dict) else {}
        if not isinstance(audio_in, dict):
            raise InvalidParameter("session.audio.input must be an object", param="session.audio.input")
        if isinstance(audio_in.get("format"), dict):
            config.rate = _rate(audio_in["format"])
        transcription, turn = audio_in.get("transcription"), audio_in.get("turn_detection", ...)
        prefix = "session.audio.input.transcription"
    if isinstance(transcription, dict):
        language = transcription.get("language") or None
        try:
            check_language(language)
        except InvalidParameter as exc:
            raise InvalidParameter(exc.message, param=f"{prefix}.language") from None
        config.language = language
        config.model = str(transcription.get("model") or config.model)
        config.prompt = str(transcription.get("prompt") or "")
    if turn is not ...:  # absent: unchanged; null: manual commits
        if turn is not None and not isinstance(turn, dict):
            raise InvalidParameter("turn_detection must be an object or null", param="turn_detection")
        config.turn_detection = None if turn is None else {**DEFAULT_TURN_DETECTION, **turn}
    return config


def _rate(fmt: dict[str, Any]) -> int:
    if fmt.get("type", "audio/pcm") != "audio/pcm":
        raise UnsupportedMedia(
            f"audio format {fmt.get('type')!r} is not supported; use audio/pcm",
            param="session.audio.input.format.type",
        )
    rate, param = fmt.get("rate", OPENAI_RATE), "session.audio.input.format.rate"
    if not isinstance(rate, int):
        raise InvalidParameter("rate must be an integer (Hz)", param=param)
    bounds.check(rate, bounds.SAMPLE_RATE, param, " Hz")
    return rate
