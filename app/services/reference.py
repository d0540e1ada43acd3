"""Cloning references as clients send them (base64 in JSON, or a multipart file) -> VoiceReference.

Decoded and resampled with the same PyAV path as uploads for transcription, at SNAC's 24 kHz, the
rate of the only backend that clones (Svara). Neither the audio nor the transcript is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from app.audio.decode import decode_audio
from app.errors import InvalidParameter
from tts_engine.base import REFERENCE_SECONDS, VoiceReference

REFERENCE_SAMPLE_RATE = 24000
_LIMIT = f"reference audio must be {REFERENCE_SECONDS[0]:g}-{REFERENCE_SECONDS[1]:g} s"


def reference_bytes_from_base64(value: str) -> bytes:
    """The JSON form: standard base64, optionally as a data: URL."""
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameter("reference_audio must be base64-encoded audio", param="reference_audio") from None


async def read_reference(audio: bytes | None, transcript: str | None) -> VoiceReference | None:
    """None when the request asks for no cloning; otherwise a checked reference, or a 4xx."""
    if audio is None and transcript is None:
        return None
    if audio is None:
        raise InvalidParameter("reference_transcript was given without reference_audio", param="reference_audio")
    if transcript is None or not transcript.strip():
        raise InvalidParameter(
            "reference_transcript is required with reference_audio: the words spoken in the reference",
            param="reference_transcript",
        )
    decoded = await asyncio.to_thread(
        decode_audio,
        audio,
        max_seconds=REFERENCE_SECONDS[1],
        rate=REFERENCE_SAMPLE_RATE,
        param="reference_audio",
        limit_name=_LIMIT,
    )
    if decoded.duration < REFERENCE_SECONDS[0]:
        raise InvalidParameter(
            f"reference_audio is {decoded.duration:.2f} s long; {_LIMIT}", param="reference_audio"
        )
    return VoiceReference(audio=decoded.samples(), transcript=transcript.strip(), sample_rate=REFERENCE_SAMPLE_RATE)
