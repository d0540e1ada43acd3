"""The decode scheduler's rules: finals before partials, coalesced partials, work of an ended session
dropped, batch job windows behind live work but never starved.

These test the scheduling logic only, so the decoder is a stand-in: it answers each request with the
label the test gave it and holds a batch until the test lets it go, which the real decoder cannot do
on demand. The real batched decoder is tested on tiny.en in test_batch_decoder.py, and the scheduler
with it in test_stream_speculation.py and test_session_end.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest

from asr_engine.decoder import DecodeRequest, DecodeResult
from asr_engine.scheduler import DecodeScheduler, Kind, Work
from common.aio import cancel_and_wait
from tests.support import wait_until


def request(label: int) -> DecodeRequest:
    return DecodeRequest(audio=np.full(1, label, dtype=np.float32))


class HeldDecoder:
    """Stand-in decoder (scheduling logic only): answers each request with its label, records the
    labels of every batch, and holds the first batch until `release` is set."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def decode(self, requests: list[DecodeRequest]) -> list[DecodeResult]:
        self.batches.append([int(r.audio[0]) for r in requests])
        self.entered.set()
        self.release.wait(30)
        return [DecodeResult(str(int(r.audio[0])), "en") for r in requests]


@pytest.fixture
def decoder() -> HeldDecoder:
    return HeldDecoder()


async def start(scheduler: DecodeScheduler) -> asyncio.Task[None]:
    return asyncio.create_task(scheduler.run())


@pytest.fixture
async def held(decoder: HeldDecoder) -> AsyncIterator[DecodeScheduler]:
    """A running scheduler whose model is busy with a first batch, the "busy" session's partial
    (label 0, its Work in `held.busy`), until the test releases it."""
    scheduler = DecodeScheduler(decoder.decode, max_batch=16, tick_budget_s=1000, slots=1)
    task = await start(scheduler)
    scheduler.busy = scheduler.submit("busy", Kind.PARTIAL, lambda: request(0))  # type: ignore[attr-defined]
    assert await asyncio.to_thread(decoder.entered.wait, 30)
    yield scheduler
    decoder.release.set()
    await cancel_and_wait([task])


def partials(scheduler: DecodeScheduler, owners: str) -> list[Work]:
    """One partial per owner, labelled 1, 2, …"""
    return [scheduler.submit(o, Kind.PARTIAL, lambda label=i: request(label)) for i, o in enumerate(owners, 1)]


async def results(*works: Work) -> list[str | None]:
    answers = await asyncio.gather(*(w.future for w in works))
    return [a.text if a else None for a in answers]


async def test_finals_go_before_partials_and_are_answered_before_the_partials_decode(
    held: DecodeScheduler, decoder: HeldDecoder
) -> None:
    answered: list[str] = []
    works = [
        held.submit("a", Kind.PARTIAL, lambda: request(1)),
        held.submit("b", Kind.SPECULATIVE, lambda: request(2)),
        held.submit("c", Kind.FINAL, lambda: request(3)),
        held.submit("d", Kind.PARTIAL, lambda: request(4)),
        held.submit("e", Kind.FINAL, lambda: request(5)),
    ]
    for work in works:
        work.future.add_done_callback(lambda f: answered.append(f.result().text))
    decoder.release.set()
    assert await results(*works) == ["1", "2", "3", "4", "5"]
    # Finals whose endpoint came, then the speculative one, each oldest first; partials after them.
    assert decoder.batches == [[0], [3, 5, 2], [1, 4]]
    assert answered == ["3", "5", "2", "1", "4"]


async def test_a_tick_takes_every_final_but_only_the_partials_its_budget_allows(decoder: HeldDecoder) -> None:
    decoder.release.set()
    scheduler = DecodeScheduler(decoder.decode, max_batch=16, tick_budget_s=1e-9, slots=1)
    works = partials(scheduler, "abc")
    works += [scheduler.submit(o, Kind.FINAL, lambda label=i: request(label)) for i, o in ((4, "d"), (5, "e"))]
    task = await start(scheduler)
    try:
        await results(*works)
    finally:
        await cancel_and_wait([task])
    # The first tick knows no decode time yet and takes everything; with the time measured, a tick
    # of finals still takes them all and one partial.
    assert decoder.batches == [[4, 5], [1, 2, 3]]
    decoder.batches.clear()
    scheduler2 = DecodeScheduler(decoder.decode, max_batch=16, tick_budget_s=1e-9, slots=1)
    scheduler2._item_s = 1.0  # as measured by an earlier tick
    works = partials(scheduler2, "abc") + [scheduler2.submit("d", Kind.FINAL, lambda: request(4))]
    task = await start(scheduler2)
    try:
        await results(*works)
    finally:
        await cancel_and_wait([task])
    assert decoder.batches == [[4], [1], [2], [3]]


async def test_a_session_never_has_two_partials_queued_and_a_stale_one_is_dropped(
    held: DecodeScheduler, decoder: HeldDecoder
) -> None:
    newest = {"audio": 1}
    first = held.submit("a", Kind.PARTIAL, lambda: request(newest["audio"]))
    newest["audio"] = 2  # more audio came: asking again changes nothing, the queued one takes it
    again = held.submit("a", Kind.PARTIAL, lambda: request(newest["audio"]))
    assert again is first and held.stats.partials_coalesced == 1
    ended = held.submit("b", Kind.PARTIAL, lambda: None)  # its utterance is over by its tick
    withdrawn = held.submit("c", Kind.PARTIAL, lambda: request(7))
    held.withdraw(withdrawn)  # its utterance asked for its final
    # Finals are never coalesced: two of one session are both decoded.
    finals = [held.submit("b", Kind.FINAL, lambda: request(8)), held.submit("b", Kind.FINAL, lambda: request(9))]
    decoder.release.set()
    assert await results(first, ended, *finals) == ["2", None, "8", "9"]
    assert withdrawn.future.cancelled()
    assert decoder.batches == [[0], [8, 9], [2]]
    assert held.stats.partials_dropped == 2


async def test_a_partial_may_wait_while_the_previous_one_of_its_session_decodes(
    held: DecodeScheduler, decoder: HeldDecoder
) -> None:
    # The held batch holds the "busy" session's partial; a new one of that session is queued.
    queued = held.submit("busy", Kind.PARTIAL, lambda: request(1))
    assert held.submit("busy", Kind.PARTIAL, lambda: request(1)) is queued
    decoder.release.set()
    assert await results(queued) == ["1"]
    assert decoder.batches == [[0], [1]]


async def test_with_two_workers_a_session_never_has_two_partials_decoding(decoder: HeldDecoder) -> None:
    scheduler = DecodeScheduler(decoder.decode, max_batch=16, tick_budget_s=1000, slots=2)
    task = await start(scheduler)
    try:
        first = scheduler.submit("a", Kind.PARTIAL, lambda: request(1))
        assert await asyncio.to_thread(decoder.entered.wait, 30)
        again = scheduler.submit("a", Kind.PARTIAL, lambda: request(2))
        other = scheduler.submit("b", Kind.PARTIAL, lambda: request(3))
        # The second worker takes b's partial; a's waits for a's first to finish (newer audio then).
        await asyncio.to_thread(wait_until, lambda: len(decoder.batches) == 2, 30, "the second worker's batch")
        assert decoder.batches == [[1], [3]] and again.queued
        decoder.release.set()
        assert await results(first, again, other) == ["1", "2", "3"]
    finally:
        await cancel_and_wait([task])
    assert decoder.batches == [[1], [3], [2]]


async def test_the_work_of_a_session_that_ended_is_dropped_and_the_others_go_on(
    held: DecodeScheduler, decoder: HeldDecoder
) -> None:
    gone = [held.submit("a", Kind.FINAL, lambda: request(1)), held.submit("a", Kind.PARTIAL, lambda: request(2))]
    other = held.submit("b", Kind.FINAL, lambda: request(3))
    queued_behind = held.submit("busy", Kind.PARTIAL, lambda: request(9))
    held.forget("a")
    held.forget("busy")
    held.withdraw(held.busy)  # in the running batch: its session ended, its result goes nowhere
    decoder.release.set()
    assert await results(other) == ["3"]
    assert all(w.future.cancelled() for w in [*gone, queued_behind, held.busy])
    assert decoder.batches == [[0], [3]]


async def test_batch_windows_wait_behind_live_work_but_get_a_turn_after_fair_turns(decoder: HeldDecoder) -> None:
    order: list[str] = []
    scheduler = DecodeScheduler(decoder.decode, max_batch=1, tick_budget_s=1000, slots=1, fair_turns=2)
    task = await start(scheduler)
    try:
        scheduler.submit("busy", Kind.FINAL, lambda: request(0))
        assert await asyncio.to_thread(decoder.entered.wait, 30)

        def batch_window() -> None:
            with scheduler.batch_turn():
                order.append("batch")

        window = asyncio.create_task(asyncio.to_thread(batch_window))
        await asyncio.to_thread(wait_until, lambda: bool(scheduler._batch_waiters), 30, "the window to wait its turn")
        live = partials(scheduler, "abcd")
        for work in live:
            work.future.add_done_callback(lambda f: order.append(f.result().text))
        decoder.release.set()
        await results(*live)
        await window
    finally:
        await cancel_and_wait([task])
    # One live batch a tick (max_batch=1): two of them went first, then the window, then the rest.
    assert order == ["1", "2", "batch", "3", "4"]
    assert scheduler.stats.batch_turns == 1


async def test_a_batch_window_goes_at_once_when_no_live_work_waits(decoder: HeldDecoder) -> None:
    scheduler = DecodeScheduler(decoder.decode, slots=1)
    task = await start(scheduler)
    try:

        def batch_window() -> str:
            with scheduler.batch_turn():
                return "ran"

        assert await asyncio.wait_for(asyncio.to_thread(batch_window), 30) == "ran"
    finally:
        await cancel_and_wait([task])
    assert decoder.batches == []


async def test_a_job_thread_that_outlives_the_scheduler_is_refused_its_next_turn(decoder: HeldDecoder) -> None:
    """At shutdown (or after a stalled job was abandoned) a job thread may ask for a window after the
    scheduler stopped: it gets an error at once instead of waiting forever, which would hold up the
    worker's exit on its thread."""
    scheduler = DecodeScheduler(decoder.decode, slots=1)
    task = await start(scheduler)
    await asyncio.sleep(0)  # it runs
    await cancel_and_wait([task])

    def batch_window() -> None:
        with scheduler.batch_turn():
            pass

    with pytest.raises(RuntimeError, match="the scheduler has stopped"):
        await asyncio.wait_for(asyncio.to_thread(batch_window), 10)
