"""Decode an uploaded file (wav, mp3, flac, ogg/opus, m4a, webm, ...) to mono PCM16 (16 kHz for ASR).

Done in the gateway so that a bad file is answered with a clear 4xx here and never reaches a worker.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from app.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from common.pcm import pcm16_to_float

TARGET_RATE = 16000
_MIN_RATE, _MAX_RATE = 1000, 384000


@dataclass(frozen=True)
class DecodedAudio:
    pcm: bytes  # mono signed 16-bit little-endian at `rate`
    source_format: str
    source_rate: int
    rate: int = TARGET_RATE

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.rate

    def samples(self) -> np.ndarray:
        """float32 in [-1, 1)."""
        return pcm16_to_float(self.pcm)


def decode_audio(
    data: bytes,
    *,
    max_seconds: float,
    rate: int = TARGET_RATE,
    param: str = "audio",
    limit_name: str = "MAX_AUDIO_SECONDS",
) -> DecodedAudio:
    """`param` and `limit_name` name the field and the limit in error messages."""
    subject = "the upload" if param == "audio" else param
    if not data:
        raise BadRequest(f"the request has no audio: {subject} is empty", param=param)
    _check_wav_truncation(data, param)
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError:
        raise UnsupportedMedia(
            f"{subject} is not audio in a format this service decodes (wav, mp3, flac, ogg/opus, m4a, webm)",
            param=param,
        ) from None
    with container:
        if not container.streams.audio:
            raise UnsupportedMedia(f"{subject} has no audio stream", param=param)
        stream = container.streams.audio[0]
        source_rate = stream.codec_context.sample_rate or stream.sample_rate or 0
        if not _MIN_RATE <= source_rate <= _MAX_RATE:
            raise BadRequest(f"unusable sample rate {source_rate} Hz", param=param)
        too_long = PayloadTooLarge(
            f"{subject} is longer than this service's limit of {max_seconds:g} s ({limit_name})", param=param
        )
        if container.duration is not None and container.duration / 1_000_000 > max_seconds:
            raise too_long
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        samples = 0
        limit = int(max_seconds * rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    samples += len(chunk)
                if samples > limit:  # count while decoding: a header may lie about the length
                    raise too_long
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            raise BadRequest(f"{subject} is corrupt or truncated and could not be decoded", param=param) from None
        fmt = container.format.name
    pcm = np.concatenate(chunks).astype("<i2").tobytes() if chunks else b""
    if not pcm:
        raise BadRequest(f"{subject} holds no audio samples (empty or truncated)", param=param)
    return DecodedAudio(pcm=pcm, source_format=fmt, source_rate=source_rate, rate=rate)


def _check_wav_truncation(data: bytes, param: str) -> None:
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
                    param=param,
                )
            return
        pos += 8 + size + (size & 1)
    raise BadRequest("the WAV file is truncated: it has no data chunk", param=param)
