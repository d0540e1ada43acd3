"""A small thread pool that runs the most urgent waiting step first.

A CPU voice produces audio one step (sentence) at a time. With a plain FIFO pool, a stream that
arrives while others are speaking waits behind every step they queued, so its first audio comes late
under load. Here a step that yields a stream's first audio goes ahead of later steps of other
streams (which already have audio playing); within a class, steps run in the order they came.
The amount of work does not change, only its order, so throughput stays the same.

A running step cannot be pre-empted, so when every worker is in the middle of a later sentence, one
express worker starts a first-audio step at once rather than after the shortest of those sentences.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class PriorityExecutor:
    def __init__(self, workers: int, name: str, *, first_audio_first: bool = True, express: bool = True) -> None:
        self._workers = workers
        self._name = name
        self._first_audio_first = first_audio_first  # off: plain FIFO (the benchmark's "before")
        # The express worker: when every worker is busy with later steps, a first-audio step starts at
        # once instead of waiting for a sentence to end (an ONNX run cannot be pre-empted). It briefly
        # puts one more run on the cores; the total work is the same.
        self._express = express and first_audio_first
        self._queue: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # regular workers running a step
        self._urgent_running = 0  # first-audio steps running, on any worker
        self._closed = False

    async def run(self, urgent: bool, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the pool; `urgent` for a step that gives a stream its first audio.
        Cancelling the await before the step starts drops it (a client that left costs nothing)."""
        return await asyncio.wrap_future(self.submit(urgent, fn, *args))

    def submit(self, urgent: bool, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        rank = 0 if urgent and self._first_audio_first else 1
        with self._ready:
            if self._closed:
                raise RuntimeError(f"the {self._name} pool is shut down")
            heapq.heappush(self._queue, (rank, next(self._order), future, fn, args))
            if not self._threads:  # threads start on first use, not in __init__
                for index in range(self._workers):
                    self._start(f"{self._name}-{index}", express=False)
                if self._express:
                    self._start(f"{self._name}-express", express=True)
            self._ready.notify_all()
        return future

    @property
    def workers(self) -> int:
        """Regular workers (the express one comes on top)."""
        return self._workers

    def _start(self, name: str, *, express: bool) -> None:
        thread = threading.Thread(target=self._work, args=(express,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def waiting(self) -> int:
        """Steps queued and not started yet."""
        with self._ready:
            return len(self._queue)

    def _express_may_take(self) -> bool:
        """A first-audio step waits while every worker runs a later step and no first-audio step runs."""
        return bool(self._queue) and self._queue[0][0] == 0 and self._busy == self._workers and not self._urgent_running

    def _work(self, express: bool) -> None:
        while True:
            with self._ready:
                while not self._closed and not (self._express_may_take() if express else self._queue):
                    self._ready.wait()
                if self._closed and not self._queue:
                    return
                if express and not self._express_may_take():
                    return  # closed
                rank, _, future, fn, args = heapq.heappop(self._queue)
                regular, urgent = not express, rank == 0
                self._busy += 1 if regular else 0
                self._urgent_running += 1 if urgent else 0
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args))
                    except BaseException as exc:  # handed to the awaiting coroutine, which re-raises it
                        future.set_exception(exc)
            finally:
                with self._ready:
                    self._busy -= 1 if regular else 0
                    self._urgent_running -= 1 if urgent else 0
                    self._ready.notify_all()

    def shutdown(self) -> None:
        """Drop waiting steps; the ones running finish (an ONNX run cannot be interrupted)."""
        with self._ready:
            self._closed = True
            for _, _, future, _, _ in self._queue:
                future.cancel()
            self._queue.clear()
            self._ready.notify_all()
