"""Decode an uploaded file (wav, mp3, flac, ogg/opus, m4a, webm, ...) to 16 kHz mono PCM16.

Done in the gateway so that a bad file is answered with a clear 4xx here and never reaches a worker.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from app.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

TARGET_RATE = 16000
_MIN_RATE, _MAX_RATE = 1000, 384000


@dataclass(frozen=True)
class DecodedAudio:
    pcm: bytes  # 16 kHz mono signed 16-bit little-endian
    source_format: str
    source_rate: int

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / TARGET_RATE


def decode_audio(data: bytes, *, max_seconds: float) -> DecodedAudio:
    if not data:
        raise BadRequest("the request has no audio: the body is empty", param="audio")
    _check_wav_truncation(data)
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError:
        raise UnsupportedMedia(
            "the body is not audio in a format this service decodes (wav, mp3, flac, ogg/opus, m4a, webm)",
            param="audio",
        ) from None
    with container:
        if not container.streams.audio:
            raise UnsupportedMedia("the file has no audio stream", param="audio")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.sample_rate or 0
        if not _MIN_RATE <= rate <= _MAX_RATE:
            raise BadRequest(f"unusable sample rate {rate} Hz", param="audio")
        if container.duration is not None and container.duration / 1_000_000 > max_seconds:
            raise _too_long(max_seconds)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=TARGET_RATE)
        chunks: list[np.ndarray] = []
        samples = 0
        limit = int(max_seconds * TARGET_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    samples += len(chunk)
                if samples > limit:  # count while decoding: a header may lie about the length
                    raise _too_long(max_seconds)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            raise BadRequest(
                "the audio is corrupt or truncated and could not be decoded", param="audio"
            ) from None
        fmt = container.format.name
    pcm = np.concatenate(chunks).astype("<i2").tobytes() if chunks else b""
    if not pcm:
        raise BadRequest("the file holds no audio samples (empty or truncated)", param="audio")
    return DecodedAudio(pcm=pcm, source_format=fmt, source_rate=rate)


def _too_long(max_seconds: float) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the audio is longer than this service's limit of {max_seconds:.0f} s (MAX_AUDIO_SECONDS)",
        param="audio",
    )


def _check_wav_truncation(data: bytes) -> None:
    """FFmpeg decodes a cut-off WAV without complaint; its header still says how long it should be."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF mark WAVs written by streaming tools that never knew the length.
            if size not in (0, 0xFFFFFFFF) and pos + 8 + size > len(data):
                raise BadRequest(
                    f"the WAV file is truncated: its header announces {size} bytes of audio, "
                    f"{len(data) - pos - 8} are present",
                    param="audio",
                )
            return
        pos += 8 + size + (size & 1)
    raise BadRequest("the WAV file is truncated: it has no data chunk", param="audio")
