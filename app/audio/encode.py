"""Streaming audio encoders: float32 mono in, bytes of the requested format out as audio arrives.

Every encoder is fed while the audio is produced and returns whatever bytes are ready, so a
client hears the start of a long text before its end is synthesised. Compressed formats are
muxed by PyAV into a non-seekable sink with per-packet flushing; WAV gets a streamable header
(RIFF/data sizes "unknown", as live streams use) so a player can start on a prefix.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np

_MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    container: str | None  # PyAV muxer; None: raw samples written here
    codec: str | None
    rates: tuple[int, ...] | None  # sample rates the codec takes; None: any
    container_options: tuple[tuple[str, str], ...] = ()


FORMATS: dict[str, AudioFormat] = {
    "pcm": AudioFormat("pcm", "audio/pcm", None, None, None),
    "wav": AudioFormat("wav", "audio/wav", None, None, None),
    "mp3": AudioFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", _MPEG_RATES),
    # Opus always runs at 48 kHz inside (decoders output 48 kHz whatever the input was).
    "opus": AudioFormat("opus", "audio/ogg", "ogg", "libopus", (48000,), (("page_duration", "100000"),)),
    "flac": AudioFormat("flac", "audio/flac", "flac", "flac", None),
    "aac": AudioFormat("aac", "audio/aac", "adts", "aac", _MPEG_RATES),
}


def output_rate(fmt: AudioFormat, requested: int) -> int:
    """The rate actually encoded: the requested one, or the nearest the codec supports."""
    if fmt.rates is None or requested in fmt.rates:
        return requested
    return min(fmt.rates, key=lambda rate: (abs(rate - requested), -rate))


class Encoder(Protocol):
    sample_rate: int

    def encode(self, samples: np.ndarray) -> bytes:
        """Encode float32 mono samples at `sample_rate`; return the bytes ready so far."""
        ...

    def finish(self) -> bytes:
        """Flush the codec and write the trailer."""
        ...


def to_s16le(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """44-byte PCM s16le mono header. `data_bytes=None`: sizes unknown (0xFFFFFFFF), for streams."""
    data_size = 0xFFFFFFFF if data_bytes is None else data_bytes
    riff_size = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_size)
    )


def finalize_wav(data: bytes) -> bytes:
    """Put the real sizes into a complete WAV made by `WavEncoder` (for non-streamed replies)."""
    size = len(data) - 44
    return data[:4] + struct.pack("<I", 36 + size) + data[8:40] + struct.pack("<I", size) + data[44:]


class PcmEncoder:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate

    def encode(self, samples: np.ndarray) -> bytes:
        return to_s16le(samples)

    def finish(self) -> bytes:
        return b""


class WavEncoder(PcmEncoder):
    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self._header_sent = False

    def encode(self, samples: np.ndarray) -> bytes:
        head = b""
        if not self._header_sent:
            head, self._header_sent = wav_header(self.sample_rate), True
        return head + to_s16le(samples)

    def finish(self) -> bytes:
        return b"" if self._header_sent else wav_header(self.sample_rate)


class _Sink:
    """Non-seekable file object for PyAV's muxer: collects what it writes until drained."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


class PyAVEncoder:
    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        assert fmt.container and fmt.codec  # internal invariant: FORMATS defines both
        self.sample_rate = sample_rate
        self._sink = _Sink()
        options = {"flush_packets": "1", **dict(fmt.container_options)}
        self._container = av.open(self._sink, mode="w", format=fmt.container, container_options=options)
        self._stream: av.AudioStream = self._container.add_stream(  # type: ignore[assignment]
            fmt.codec, rate=sample_rate, layout="mono"
        )
        self._pts = 0
        self._closed = False

    def _mux(self, frame: av.AudioFrame | None) -> None:
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def encode(self, samples: np.ndarray) -> bytes:
        if samples.size:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = self.sample_rate
            frame.pts = self._pts
            self._pts += samples.size
            self._mux(frame)
        return self._sink.drain()

    def finish(self) -> bytes:
        if not self._closed:
            self._closed = True
            self._mux(None)
            self._container.close()
        return self._sink.drain()

    def close(self) -> None:
        """Release the codec without a trailer (the stream was abandoned)."""
        if not self._closed:
            self._closed = True
            self._container.close()


def make_encoder(fmt: AudioFormat, sample_rate: int) -> Encoder:
    if fmt.name == "pcm":
        return PcmEncoder(sample_rate)
    if fmt.name == "wav":
        return WavEncoder(sample_rate)
    return PyAVEncoder(fmt, sample_rate)
