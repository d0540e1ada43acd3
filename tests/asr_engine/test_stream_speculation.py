"""Speculative finals in a streaming session, on the real tiny.en model and real Silero VAD.

The session is driven in-process so the test can look between two chunks: the final's decode must
already be under way in the trailing silence, before the endpoint, and the endpoint must send that
result without decoding again. The model is wrapped only to record which decodes were asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from faster_whisper import WhisperModel

from asr_engine import bundled
from asr_engine.settings import AsrSettings
from asr_engine.streaming import Session
from common.asr_stream import StreamOptions
from tests.support.asr import MAX_WER, SENTENCES, Speech, piper_speech, wer

CHUNK = 1600  # 100 ms of 16 kHz PCM16 samples


class RecordingModel:
    """The real model; each call records whether it was a final's decode (full beam) or a partial."""

    def __init__(self, model: WhisperModel) -> None:
        self.model = model
        self.finals_decoded = 0

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> Any:
        if kwargs.get("beam_size", 1) > 1:
            self.finals_decoded += 1
        return self.model.transcribe(audio, **kwargs)


@pytest.fixture(scope="module")
def model() -> WhisperModel:
    return WhisperModel(str(bundled.tiny_en()), device="cpu", compute_type="int8", cpu_threads=2)


def _session(model: WhisperModel, speculate_ms: int, endpoint_ms: int = 500) -> tuple[Session, RecordingModel]:
    recording = RecordingModel(model)
    settings = AsrSettings(
        asr_stream_speculate_ms=speculate_ms, asr_stream_endpoint_ms=endpoint_ms, asr_beam_size=5
    )
    return Session(model=recording, settings=settings, options=StreamOptions()), recording  # type: ignore[arg-type]


async def _feed(session: Session, pcm: bytes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for offset in range(0, len(pcm), CHUNK * 2):
        out += await session.on_audio(pcm[offset : offset + CHUNK * 2])
    return out


@pytest.fixture(scope="module")
def sentence() -> Speech:
    return piper_speech(SENTENCES[:1], pause_s=0.0)


async def test_final_is_decoded_in_the_trailing_silence_and_sent_at_the_endpoint(
    model: WhisperModel, sentence: Speech
) -> None:
    session, recording = _session(model, speculate_ms=150)
    silence = np.zeros(16000 // 10, dtype=np.int16).tobytes()  # 100 ms
    messages = await _feed(session, sentence.pcm16k() + silence * 3)  # 300 ms: past 150, before 500
    assert not [m for m in messages if m["is_final"]]
    assert session.speculation is not None  # the final's decode started before the endpoint
    await session.speculation  # let it finish, whatever the machine's speed
    decoded_before_endpoint = recording.finals_decoded
    assert decoded_before_endpoint >= 1  # more than one where a pause inside the sentence started one early
    messages = await _feed(session, silence * 5)
    finals = [m for m in messages if m["is_final"]]
    assert len(finals) == 1 and wer(SENTENCES[0], finals[0]["transcript"]) <= MAX_WER, finals
    assert recording.finals_decoded == decoded_before_endpoint  # sent as decoded, not decoded again


async def test_speech_resuming_in_the_pause_discards_the_guess(model: WhisperModel) -> None:
    # A 1 s endpoint: the pause (300 ms plus Piper's own silence around each sentence, which varies
    # from run to run) stays well inside it, past the 150 ms that start a speculative decode.
    session, recording = _session(model, speculate_ms=150, endpoint_ms=1000)
    first, second = piper_speech(SENTENCES[:1], 0.0), piper_speech(SENTENCES[1:2], 0.0)
    silence = np.zeros(16000 // 10, dtype=np.int16).tobytes()
    messages = await _feed(session, first.pcm16k() + silence * 3)
    assert session.speculation is not None
    messages += await _feed(session, second.pcm16k() + silence * 14)
    finals = [m for m in messages if m["is_final"]]
    # One utterance: the guess covering only the first sentence was not sent.
    assert len(finals) == 1, finals
    assert wer(f"{SENTENCES[0]} {SENTENCES[1]}", finals[0]["transcript"]) <= MAX_WER, finals


async def test_without_speculation_the_final_waits_for_the_endpoint(model: WhisperModel, sentence: Speech) -> None:
    session, recording = _session(model, speculate_ms=0)
    silence = np.zeros(16000 // 10, dtype=np.int16).tobytes()
    await _feed(session, sentence.pcm16k() + silence * 3)
    assert session.speculation is None and recording.finals_decoded == 0
    finals = [m for m in await _feed(session, silence * 5) if m["is_final"]]
    assert len(finals) == 1 and recording.finals_decoded == 1
