"""Cloning references as clients send them (base64 in JSON, or a multipart file) -> VoiceReference.

Decoded and resampled with the same PyAV path as uploads for transcription, at the rate of the voice
that will speak (a cloning voice speaks at its codec's rate). Neither the audio nor the transcript is
logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass

from app.audio.decode import decode_audio
from app.errors import InvalidParameter
from tts_engine.base import REFERENCE_SECONDS, VoiceReference

_LIMIT = f"reference audio must be {REFERENCE_SECONDS[0]:g}-{REFERENCE_SECONDS[1]:g} s"


def reference_bytes_from_base64(value: str) -> bytes:
    """The JSON form: standard base64, optionally as a data: URL."""
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameter("reference_audio must be base64-encoded audio", param="reference_audio") from None


@dataclass(frozen=True)
class ReferenceUpload:
    """A reference as received: the audio file's bytes and the words spoken in it."""

    audio: bytes | None = None
    transcript: str | None = None

    @classmethod
    def from_fields(cls, audio: str | None, transcript: str | None, upload: bytes | None = None) -> ReferenceUpload:
        """From a body's `reference_audio` (base64) and `reference_transcript`, or a multipart file."""
        if upload is None and audio is not None:
            upload = reference_bytes_from_base64(audio)
        return cls(upload, transcript)

    @property
    def empty(self) -> bool:
        """The request asks for no cloning."""
        return self.audio is None and self.transcript is None

    async def decode(self, rate: int) -> VoiceReference:
        """A checked reference at `rate`, or a 4xx that names the field and the limit."""
        if self.audio is None:
            raise InvalidParameter("reference_transcript was given without reference_audio", param="reference_audio")
        if self.transcript is None or not self.transcript.strip():
            raise InvalidParameter(
                "reference_transcript is required with reference_audio: the words spoken in the reference",
                param="reference_transcript",
            )
        decoded = await asyncio.to_thread(
            decode_audio, self.audio, max_seconds=REFERENCE_SECONDS[1], rate=rate, param="reference_audio",
            limit_name=_LIMIT,
        )
        if decoded.duration < REFERENCE_SECONDS[0]:
            raise InvalidParameter(
                f"reference_audio is {decoded.duration:.2f} s long; {_LIMIT}", param="reference_audio"
            )
        return VoiceReference(audio=decoded.samples(), transcript=self.transcript.strip(), sample_rate=rate)
