"""Who uses the model next: the live sessions' decodes, batched per tick, and batch jobs' windows.

A tick takes the queued live work and decodes it as one batch (`BatchDecoder`): finals whose endpoint
has come first, then speculative finals, then partials, each kind oldest first, up to `max_batch`.
Finals are decoded and answered before the tick's partials start. Partials fill the tick only up to
`tick_budget_s` at the decode time per item measured in recent ticks (at least one partial a tick),
so a final that comes while a tick runs waits for at most about that long.

Partials are coalesced: a session has at most one partial queued, and asking again while it waits
changes nothing, because a partial takes its session's newest audio when its tick starts (`snapshot`).
With several workers, a session's queued partial waits while its previous one decodes, so a session's
partials arrive in order. A partial is dropped when its snapshot says there is nothing to decode any
more, or when its session withdraws it (its utterance got a final). Finals are never dropped; only
their session withdraws them (speech resumed after a speculative final, or the session ended: `forget`).

Batch jobs keep faster-whisper's own transcription, window by window; each window runs inside
`batch_turn()`, which waits for a turn here. Live work goes first, but a window passed over
`fair_turns` times in a row gets the next turn, so a job always progresses. At most `slots` runs
(the model's CTranslate2 workers, ASR_INTER_THREADS) use the model at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from .decoder import DecodeRequest, DecodeResult

log = logging.getLogger(__name__)

Decode = Callable[[list[DecodeRequest]], list[DecodeResult]]


class Kind(IntEnum):
    """Live work in the order a tick takes it."""

    FINAL = 0  # the endpoint came: a client waits for it
    SPECULATIVE = 1  # a final decoded ahead of the endpoint
    PARTIAL = 2


@dataclass(eq=False)
class Work:
    owner: object
    kind: Kind
    snapshot: Callable[[], DecodeRequest | None]  # the request as of the tick; None: drop it
    future: asyncio.Future[DecodeResult | None]
    queued_at: float = field(default_factory=time.monotonic)
    queued: bool = True


@dataclass
class Stats:
    batches: int = 0  # live ticks
    decoded: int = 0  # live decodes in them
    finals: int = 0  # decoded after their endpoint came
    speculative: int = 0  # decoded ahead of it (used when the endpoint confirms the pause)
    partials: int = 0
    partials_dropped: int = 0  # stale when their tick came, or withdrawn
    partials_coalesced: int = 0  # asked for while one was queued
    batch_turns: int = 0  # batch job windows
    busy_s: float = 0.0  # model time of every run, summed over the slots


class DecodeScheduler:
    def __init__(
        self,
        decode: Decode,
        *,
        max_batch: int = 16,
        tick_budget_s: float = 0.3,
        slots: int = 1,
        fair_turns: int = 4,
    ) -> None:
        self.decode = decode
        self.max_batch = max_batch
        self.tick_budget_s = tick_budget_s
        self._item_s = 0.0  # recent decode time per item (moving average)
        self.slots = slots
        self.fair_turns = fair_turns
        self.stats = Stats()
        self._queue: list[Work] = []
        self._batch_waiters: deque[asyncio.Future[None]] = deque()
        self._passed_over = 0
        self._running = 0
        self._decoding: Counter[int] = Counter()  # owners (by id) with a partial in a running tick
        self._wake = asyncio.Event()
        self._runs: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    # --- sessions ------------------------------------------------------------------------------------
    def submit(self, owner: object, kind: Kind, snapshot: Callable[[], DecodeRequest | None]) -> Work:
        """Queue live work; a partial of an owner whose partial is still queued is that one."""
        if kind == Kind.PARTIAL:
            for work in self._queue:
                if work.owner is owner and work.kind == Kind.PARTIAL:
                    self.stats.partials_coalesced += 1
                    return work
        work = Work(owner, kind, snapshot, asyncio.get_running_loop().create_future())
        self._queue.append(work)
        self._wake.set()
        return work

    def promote(self, work: Work) -> None:
        """A speculative final whose endpoint came: it goes with the finals now."""
        if work.queued:
            work.kind = Kind.FINAL

    def withdraw(self, work: Work) -> None:
        """Its owner no longer wants it: out of the queue, or its result ignored when it comes."""
        if work.queued:
            self._queue.remove(work)
            work.queued = False
            if work.kind == Kind.PARTIAL:
                self.stats.partials_dropped += 1
        work.future.cancel()

    def forget(self, owner: object) -> None:
        """The owner (a session) ended: none of its work is decoded or answered any more."""
        for work in [w for w in self._queue if w.owner is owner]:
            self.withdraw(work)

    # --- batch jobs ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch_turn(self) -> Iterator[None]:
        """Blocks the calling (worker) thread until a batch job may use the model, for one window."""
        if self._loop is None:
            raise RuntimeError("the scheduler is not running")
        asyncio.run_coroutine_threadsafe(self._wait_batch_turn(), self._loop).result()
        started = time.monotonic()
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self._end_run, time.monotonic() - started)

    async def _wait_batch_turn(self) -> None:
        if self._stopped:  # a job thread that outlived the scheduler (shutdown): no turn will come
            raise RuntimeError("the scheduler has stopped")
        waiter = asyncio.get_running_loop().create_future()
        self._batch_waiters.append(waiter)
        self._wake.set()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter in self._batch_waiters:
                self._batch_waiters.remove(waiter)
            elif not waiter.cancelled():
                self._end_run(0.0)  # granted, but its thread will not run: give the slot back
            raise

    # --- the loop ------------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                while self._running >= self.slots or not (self._ready() or self._batch_waiters):
                    self._wake.clear()
                    await self._wake.wait()
                self._running += 1
                if self._batch_waiters and (not self._ready() or self._passed_over >= self.fair_turns):
                    self._passed_over = 0
                    self.stats.batch_turns += 1
                    self._batch_waiters.popleft().set_result(None)  # its thread ends the run
                    continue
                if self._batch_waiters:
                    self._passed_over += 1
                run = asyncio.create_task(self._tick(self._take()))
                self._runs.add(run)
                run.add_done_callback(self._runs.discard)
        finally:  # shutting down: nobody waits for an answer that will not come
            self._stopped = True
            for waiter in self._batch_waiters:
                waiter.cancel()
            for work in self._queue:
                work.future.cancel()
            for run in list(self._runs):
                run.cancel()

    def _ready(self) -> list[Work]:
        """Queued live work a tick may take: a partial waits while its session has one decoding (with
        several workers), since by then it will take newer audio, and arrive after the older one."""
        return [w for w in self._queue if w.kind != Kind.PARTIAL or id(w.owner) not in self._decoding]

    def _take(self) -> list[tuple[Work, DecodeRequest]]:
        ready = sorted(self._ready(), key=lambda w: (w.kind, w.queued_at))
        finals = sum(1 for w in ready[: self.max_batch] if w.kind != Kind.PARTIAL)
        fit = int(self.tick_budget_s / self._item_s) if self._item_s > 0 else self.max_batch
        taken = ready[: min(self.max_batch, finals + max(1, fit - finals))]
        self._queue = [w for w in self._queue if w not in taken]
        batch = []
        for work in taken:
            work.queued = False
            request = work.snapshot()
            if request is None:
                self.stats.partials_dropped += 1
                work.future.set_result(None)
            else:
                batch.append((work, request))
        return batch

    async def _tick(self, batch: list[tuple[Work, DecodeRequest]]) -> None:
        started = time.monotonic()
        finals = [(w, r) for w, r in batch if w.kind != Kind.PARTIAL]
        partials = [(w, r) for w, r in batch if w.kind == Kind.PARTIAL]
        self._decoding.update(id(w.owner) for w, _ in partials)
        try:
            if batch:
                self.stats.batches += 1
            for part in (finals, partials):  # the finals' answers do not wait for the partials
                if part:
                    await self._decode(part)
        finally:
            self._decoding.subtract(id(w.owner) for w, _ in partials)
            self._decoding += Counter()  # drops the owners at zero
            for work, _ in batch:
                work.future.cancel()  # only where cancelled midway: the others have their answer
            self._end_run(time.monotonic() - started)

    async def _decode(self, part: list[tuple[Work, DecodeRequest]]) -> None:
        started = time.monotonic()
        try:
            results = await asyncio.to_thread(self.decode, [r for _, r in part])
        except Exception as exc:
            log.exception("batch decode failed", extra={"fields": {"size": len(part)}})
            for work, _ in part:
                if not work.future.done():
                    work.future.set_exception(exc)
            return
        self.stats.decoded += len(part)
        per_item = (time.monotonic() - started) / len(part)
        self._item_s = per_item if self._item_s == 0 else 0.7 * self._item_s + 0.3 * per_item
        for (work, _), result in zip(part, results, strict=True):
            if work.kind == Kind.PARTIAL:
                self.stats.partials += 1
            elif work.kind == Kind.SPECULATIVE:
                self.stats.speculative += 1
            else:
                self.stats.finals += 1
            if not work.future.done():  # withdrawn while it ran: nobody wants it
                work.future.set_result(result)

    def _end_run(self, seconds: float) -> None:
        self._running -= 1
        self.stats.busy_s += seconds
        self._wake.set()
