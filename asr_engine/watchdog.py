"""Noticing a batch job whose thread stopped moving.

A job's transcription runs in a thread, one model turn per window (asr_engine/transcriber.py). A
thread that neither asks for a turn nor ends one for ASR_JOB_STALL_S is stuck: a model call that
never returns, or a turn that never comes. A thread cannot be stopped from outside, so the worker
logs where it stands, lets the job go to another worker, and reports itself unhealthy so that the
health monitor (or the orchestrator's liveness probe) restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from .transcriber import Turn

T = TypeVar("T")


class JobStalled(Exception):
    def __init__(self, idle_s: float, stack: str) -> None:
        super().__init__(f"the job's thread did nothing for {idle_s:.0f} s")
        self.idle_s = idle_s
        self.stack = stack


class Progress:
    """When the job's thread last asked for, got or ended a model turn; `turn` wraps the scheduler's."""

    def __init__(self, turn: Turn) -> None:
        self._turn = turn
        self._last = time.monotonic()
        self._thread_id: int | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        self._thread_id = threading.get_ident()
        self._last = time.monotonic()
        try:
            with self._turn():
                self._last = time.monotonic()
                yield
        finally:
            self._last = time.monotonic()

    def idle_s(self) -> float:
        return time.monotonic() - self._last

    def stack(self) -> str:
        """Where the thread is now (code locations only: no audio or text)."""
        frame = sys._current_frames().get(self._thread_id) if self._thread_id is not None else None
        if frame is None:
            return "(the job's thread is not running)"
        return "".join(traceback.format_stack(frame))


async def watched(work: Awaitable[T], progress: Progress, stall_s: float) -> T:
    """`work`'s result, or JobStalled once its thread has been idle for `stall_s`."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=min(stall_s / 4, 5.0))
            if done:
                return task.result()
            if progress.idle_s() >= stall_s:
                # The thread goes on, or never ends: whatever it returns is dropped with the task.
                task.add_done_callback(_drop)
                raise JobStalled(progress.idle_s(), progress.stack())
    except asyncio.CancelledError:
        task.cancel()
        raise


def _drop(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
