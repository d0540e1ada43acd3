"""Speculative finals in a streaming session, on the real tiny.en model and real Silero VAD.

The session is driven in-process so the test can look between two chunks: the final's decode must
already be under way in the trailing silence, before the endpoint, and the endpoint must send that
result without decoding again. The decoder is wrapped only to record which decodes were asked for.
"""

from __future__ import annotations

import pytest

from asr_engine.scheduler import DecodeScheduler
from tests.support.asr import MAX_WER, SENTENCES, Speech, piper_speech, wer
from tests.support.asr_session import SILENCE, RecordingDecoder, feed, finals, make_session


@pytest.fixture(scope="module")
def sentence() -> Speech:
    return piper_speech(SENTENCES[:1], pause_s=0.0)


async def test_final_is_decoded_in_the_trailing_silence_and_sent_at_the_endpoint(
    scheduler: DecodeScheduler, recording: RecordingDecoder, sentence: Speech
) -> None:
    session, sent = make_session(scheduler, speculate_ms=150)
    await feed(session, sentence.pcm16k() + SILENCE * 3)  # 300 ms: past 150, before 500
    assert not finals(sent)
    assert session.speculation is not None  # the final's decode was asked for before the endpoint
    await session.speculation.future  # let it finish, whatever the machine's speed
    decoded_before_endpoint = recording.finals_decoded
    assert decoded_before_endpoint >= 1  # more than one where a pause inside the sentence started one early
    await feed(session, SILENCE * 5)
    assert len(finals(sent)) == 1 and wer(SENTENCES[0], finals(sent)[0]["transcript"]) <= MAX_WER, sent
    assert recording.finals_decoded == decoded_before_endpoint  # sent as decoded, not decoded again


async def test_speech_resuming_in_the_pause_discards_the_guess(scheduler: DecodeScheduler) -> None:
    # A 1 s endpoint: the pause (300 ms plus Piper's own silence around each sentence, which varies
    # from run to run) stays well inside it, past the 150 ms that start a speculative decode.
    session, sent = make_session(scheduler, speculate_ms=150, endpoint_ms=1000)
    first, second = piper_speech(SENTENCES[:1], 0.0), piper_speech(SENTENCES[1:2], 0.0)
    await feed(session, first.pcm16k() + SILENCE * 3)
    assert session.speculation is not None
    await feed(session, second.pcm16k() + SILENCE * 14)
    # One utterance: the guess covering only the first sentence was not sent.
    assert len(finals(sent)) == 1, sent
    assert wer(f"{SENTENCES[0]} {SENTENCES[1]}", finals(sent)[0]["transcript"]) <= MAX_WER, sent


async def test_without_speculation_the_final_waits_for_the_endpoint(
    scheduler: DecodeScheduler, recording: RecordingDecoder, sentence: Speech
) -> None:
    session, sent = make_session(scheduler, speculate_ms=0)
    await feed(session, sentence.pcm16k() + SILENCE * 3)
    assert session.speculation is None and recording.finals_decoded == 0
    await feed(session, SILENCE * 5)
    assert len(finals(sent)) == 1 and recording.finals_decoded == 1
