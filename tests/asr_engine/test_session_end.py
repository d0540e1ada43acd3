"""A session that ends while its decodes are queued, with real parts: tiny.en, Silero VAD, Piper speech.

The model is kept busy the way a batch job keeps it, by holding a batch turn, so the sessions' work
queues up; one session then ends. Its queued work must not be decoded, nothing may be sent for it
after its end, and the other session must get its final as usual.
"""

from __future__ import annotations

import asyncio
import threading

from asr_engine.scheduler import DecodeScheduler
from tests.support import wait_until
from tests.support.asr import MAX_WER, SENTENCES, piper_speech, wer
from tests.support.asr_session import SILENCE, RecordingDecoder, feed, finals, make_session


async def test_a_session_that_ends_while_its_work_is_queued_gets_nothing_and_others_go_on(
    scheduler: DecodeScheduler, recording: RecordingDecoder
) -> None:
    gone, gone_sent = make_session(scheduler, speculate_ms=150, endpoint_ms=1000)
    stays, stays_sent = make_session(scheduler, speculate_ms=150, endpoint_ms=1000)
    held, release = threading.Event(), threading.Event()

    def batch_window() -> None:  # what a batch job does with the model between live ticks
        with scheduler.batch_turn():
            held.set()
            release.wait(60)

    window = asyncio.create_task(asyncio.to_thread(batch_window))
    assert await asyncio.to_thread(held.wait, 60)
    speech = [piper_speech(SENTENCES[i : i + 1], 0.0).pcm16k() for i in range(2)]
    # Two seconds of speech each (partials asked for), then 300 ms of pause (speculative finals).
    await feed(gone, speech[0] + SILENCE * 3)
    await feed(stays, speech[1] + SILENCE * 3)
    assert gone.speculation is not None and stays.speculation is not None
    queued = gone.speculation.snapshot()
    partial = gone._partial
    assert partial is not None and partial.queued  # coalesced: one partial waits, however many were due
    sent_before = list(gone_sent)
    await gone.close()
    release.set()
    await window
    await feed(stays, SILENCE * 10)  # the endpoint: its final
    assert len(finals(stays_sent)) == 1 and wer(SENTENCES[1], finals(stays_sent)[0]["transcript"]) <= MAX_WER
    await asyncio.to_thread(wait_until, lambda: not scheduler._queue and scheduler._running == 0, 30, "idle")
    assert gone_sent == sent_before  # nothing after its end
    assert all(request is not queued for batch in recording.batches for request in batch)  # never decoded
    assert partial.future.cancelled()
    assert gone.speculation is None and not gone._deliveries
