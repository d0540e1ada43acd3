"""A small thread pool that runs the most urgent waiting step first.

A CPU voice produces audio one step (sentence) at a time. With a plain FIFO pool, a stream that
arrives while others are speaking waits behind every step they queued, so its first audio comes late
under load. Here a step that yields a stream's first audio goes ahead of later steps of other
streams (which already have audio playing); within a class, steps run in the order they came.
The amount of work does not change, only its order, so throughput stays the same.
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
    def __init__(self, workers: int, name: str, *, first_audio_first: bool = True) -> None:
        self._workers = workers
        self._name = name
        self._first_audio_first = first_audio_first  # off: plain FIFO (the benchmark's "before")
        self._queue: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
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
            if len(self._threads) < self._workers:  # threads start on first use, not in __init__
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._ready.notify()
        return future

    def waiting(self) -> int:
        """Steps queued and not started yet."""
        with self._ready:
            return len(self._queue)

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return
                _, _, future, fn, args = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the awaiting coroutine, which re-raises it
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Drop waiting steps; the ones running finish (an ONNX run cannot be interrupted)."""
        with self._ready:
            self._closed = True
            for _, _, future, _, _ in self._queue:
                future.cancel()
            self._queue.clear()
            self._ready.notify_all()
