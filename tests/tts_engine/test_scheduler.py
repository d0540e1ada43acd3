"""Scheduling by piece: the step that gives a stream its first audio runs ahead of later steps.

Order, not time, is asserted: the pool is held busy while work queues up, then released.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.services.speech import SpeechRequest, SpeechService
from tests.support import wait_until
from tts_engine.catalog import VoiceCatalog
from tts_engine.piper_backend import PiperBackend
from tts_engine.scheduler import PriorityExecutor


def _blocked(pool: PriorityExecutor) -> threading.Event:
    """Occupy the pool's only worker until the returned event is set."""
    gate, started = threading.Event(), threading.Event()
    pool.submit(False, lambda: (started.set(), gate.wait(30)))
    assert started.wait(30)
    return gate


@pytest.mark.parametrize(("first_audio_first", "expected"), [(True, "CAB"), (False, "ABC")])
def test_first_audio_steps_jump_the_queue(first_audio_first: bool, expected: str) -> None:
    pool = PriorityExecutor(1, "test", first_audio_first=first_audio_first)
    ran: list[str] = []
    gate = _blocked(pool)
    futures = [pool.submit(urgent, ran.append, name) for name, urgent in (("A", False), ("B", False), ("C", True))]
    gate.set()
    for future in futures:
        future.result(30)
    assert "".join(ran) == expected
    pool.shutdown()


def test_a_step_cancelled_while_waiting_never_runs() -> None:
    pool = PriorityExecutor(1, "test")
    ran: list[str] = []
    gate = _blocked(pool)
    dropped = pool.submit(True, ran.append, "gone")
    kept = pool.submit(False, ran.append, "kept")
    assert dropped.cancel()  # the client left before its step started
    gate.set()
    kept.result(30)
    assert ran == ["kept"]
    pool.shutdown()


async def test_a_new_streams_first_sentence_goes_before_later_sentences_of_others() -> None:
    """Through the service and the real Piper voice: three streams are speaking (later pieces
    queued), a fourth arrives; its first audio is produced before their next sentences."""
    piper = PiperBackend(max_concurrency=1)
    await piper.load()
    catalog = VoiceCatalog(default_voice="en_us_joe")
    catalog.add(piper)
    service = SpeechService(catalog)
    order: list[str] = []
    long_text = "This is the opening line. " + " ".join(["Here is one more sentence to speak."] * 4)

    async def consume(name: str, text: str, started: asyncio.Event) -> None:
        plan = service.prepare(SpeechRequest(text=text, format="pcm"))
        async for _ in service.samples(plan):
            order.append(name)
            started.set()

    gate = _blocked(piper._executor)  # the voice is busy with someone's sentence
    talking = [asyncio.Event() for _ in range(3)]
    streams = [asyncio.create_task(consume(f"old{i}", long_text, talking[i])) for i in range(3)]
    gate.set()
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in talking)), 120)
    # All three have audio playing and their next sentences queued; now hold the voice and add one.
    gate = _blocked(piper._executor)
    newcomer = asyncio.Event()
    streams.append(asyncio.create_task(consume("new", "Hello there.", newcomer)))
    # Queued: the three next sentences and the newcomer's first. Steps that finished before the
    # voice was held reach their consumers while this waits (each stream queues its next step only
    # after taking the last one's audio), so everything heard from here on was produced after.
    await asyncio.to_thread(wait_until, lambda: piper._executor.waiting() == 4, 60, "four queued steps")
    heard_before = len(order)
    gate.set()
    await asyncio.wait_for(newcomer.wait(), 120)
    assert order[heard_before:].index("new") == 0, order[heard_before:]
    await asyncio.wait_for(asyncio.gather(*streams), 300)
    await piper.close()
