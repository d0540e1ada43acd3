"""Scheduling by piece: the step that gives a stream its first audio runs ahead of later steps, and
starts at once on the express worker when every worker is in the middle of a later step.

Order, not time, is asserted: the pool is held busy while work queues up, then released.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.services.speech import SpeechRequest, SpeechService
from tests.support import wait_until
from tts_engine.piper_backend import PiperBackend
from tts_engine.scheduler import PriorityExecutor
from tts_engine.voices import VoiceCatalog


def _blocked(pool: PriorityExecutor, urgent: bool = False) -> threading.Event:
    """Occupy the pool's only worker (or, urgent while it is busy, the express worker) until the
    returned event is set."""
    gate, started = threading.Event(), threading.Event()
    pool.submit(urgent, lambda: (started.set(), gate.wait(30)))
    assert started.wait(30)
    return gate


@pytest.mark.parametrize(
    ("first_audio_first", "express", "expected"), [(True, True, "CAB"), (True, False, "CAB"), (False, True, "ABC")]
)
def test_first_audio_steps_jump_the_queue(first_audio_first: bool, express: bool, expected: str) -> None:
    pool = PriorityExecutor(1, "test", first_audio_first=first_audio_first, express=express)
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
    dropped = pool.submit(False, ran.append, "gone")
    kept = pool.submit(False, ran.append, "kept")
    assert dropped.cancel()  # the client left before its step started
    gate.set()
    kept.result(30)
    assert ran == ["kept"]
    pool.shutdown()


def test_the_express_worker_starts_one_first_audio_step_while_the_workers_are_busy() -> None:
    pool = PriorityExecutor(1, "test")
    ran: list[str] = []
    gate = _blocked(pool)  # the worker is in the middle of a later sentence
    later = pool.submit(False, ran.append, "later")
    first = pool.submit(True, ran.append, "first")
    first.result(30)  # ran although the worker is still held
    assert ran == ["first"] and not later.done()
    express_gate = _blocked(pool, urgent=True)  # now the express worker is held too
    second = pool.submit(True, ran.append, "second")
    assert pool.waiting() == 2  # one first-audio step at a time on the express worker
    express_gate.set()
    second.result(30)
    assert ran == ["first", "second"] and not later.done()  # later steps wait for a regular worker
    gate.set()
    later.result(30)
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
    # All three have audio playing and their next sentences queued; now hold the voice (its worker and
    # its express worker) and add one.
    gate = _blocked(piper._executor)
    express_gate = _blocked(piper._executor, urgent=True)
    newcomer = asyncio.Event()
    streams.append(asyncio.create_task(consume("new", "Hello there.", newcomer)))
    # Queued: the three next sentences and the newcomer's first. Steps that finished before the
    # voice was held reach their consumers while this waits (each stream queues its next step only
    # after taking the last one's audio), so everything heard from here on was produced after.
    await asyncio.to_thread(wait_until, lambda: piper._executor.waiting() == 4, 60, "four queued steps")
    heard_before = len(order)
    gate.set()
    express_gate.set()
    await asyncio.wait_for(newcomer.wait(), 120)
    assert order[heard_before:].index("new") == 0, order[heard_before:]
    await asyncio.wait_for(asyncio.gather(*streams), 300)
    await piper.close()


async def test_first_audio_while_every_worker_is_in_a_later_sentence() -> None:
    """Through the service and the real Piper voice: the voice's worker is held in the middle of
    another stream's sentence; a new stream still gets its first audio, from the express worker."""
    piper = PiperBackend(max_concurrency=1)
    await piper.load()
    catalog = VoiceCatalog(default_voice="en_us_joe")
    catalog.add(piper)
    service = SpeechService(catalog)
    gate = _blocked(piper._executor)
    plan = service.prepare(SpeechRequest(text="Hello there. How are you today?", format="pcm"))
    audio = service.samples(plan)
    first = await asyncio.wait_for(anext(audio), 60)
    assert first.size and not gate.is_set()
    gate.set()
    await audio.aclose()  # type: ignore[attr-defined]
    await piper.close()
