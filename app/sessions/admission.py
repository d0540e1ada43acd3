"""Admission: per-engine slots with a bounded wait queue; and before any route, each caller's
concurrency (app.sessions.leases, across replicas) and this gateway's cap on open WebSocket sessions.

Beyond `max_active` running and `max_waiting` queued, or after waiting `max_wait_s`, a request is
refused at once with 503 + Retry-After instead of piling up behind the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.types import Message, Receive, Scope, Send

from app.access import Caller
from app.errors import ApplianceError, UpstreamUnavailable, refuse
from app.licensing import ApiMiddleware
from common.metrics import ENGINE_ACTIVE, ENGINE_WAITING

from .leases import Leases


class EngineLimiter:
    def __init__(
        self, engine: str, *, max_active: int, max_waiting: int, max_wait_s: float, retry_after_s: int
    ) -> None:
        self.engine = engine
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self.retry_after_s = retry_after_s
        self._slots = asyncio.Semaphore(max_active)
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Requests queued for a slot now."""
        return self._waiting

    @property
    def busy(self) -> bool:
        """Every slot is taken."""
        return self._slots.locked()

    def _busy(self, why: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"{self.engine} is busy ({why}); retry shortly", retry_after_s=self.retry_after_s)

    async def acquire(self, *, patient: bool = False) -> None:
        """A slot, or 503 when the queue is full or the wait too long. `patient`: the next piece of
        work of a session already admitted (a WebSocket's next sentence): it waits its turn however
        long and is never refused, since refusing it would cut a session mid-stream; what bounds such
        waiters is the sessions' own caps (MAX_STREAM_SESSIONS, KEY_MAX_CONCURRENT)."""
        if self._slots.locked():
            if self._waiting >= self.max_waiting and not patient:
                raise self._busy("queue full")
            self._waiting += 1
            ENGINE_WAITING.labels(self.engine).set(self._waiting)
            try:
                await asyncio.wait_for(self._slots.acquire(), None if patient else self.max_wait_s)
            except TimeoutError:
                raise self._busy(f"waited {self.max_wait_s:g}s for a slot") from None
            finally:
                self._waiting -= 1
                ENGINE_WAITING.labels(self.engine).set(self._waiting)
        else:
            await self._slots.acquire()
        ENGINE_ACTIVE.labels(self.engine).inc()

    def release(self) -> None:
        self._slots.release()
        ENGINE_ACTIVE.labels(self.engine).dec()

    @contextlib.asynccontextmanager
    async def slot(self, *, patient: bool = False) -> AsyncIterator[None]:
        await self.acquire(patient=patient)
        try:
            yield
        finally:
            self.release()


class SessionLimitMiddleware(ApiMiddleware):
    """Admits an API request or WebSocket session before its route runs: its caller (app.access) may
    hold another (a lease of `app.state.leases`, KEY_MAX_CONCURRENT or the key's own), and a WebSocket
    takes one of this gateway's `app.state.stream_limiter` slots (MAX_STREAM_SESSIONS). Both are held
    until the request or session ends. Refused ones get the error before anything starts: HTTP 429 or
    503 with Retry-After, in a WebSocket's handshake too (or, where the server has no denial
    responses, an accepted socket closed at once with 1008 or 1013)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        caller: Caller | None = (scope.get("state") or {}).get("caller")
        leases: Leases | None = getattr(state, "leases", None)
        streams: EngineLimiter | None = getattr(state, "stream_limiter", None) if scope["type"] == "websocket" else None
        if scope["type"] == "websocket":  # websocket.connect: read here, replayed to the route below
            receive = _replaying(await receive(), receive)
        async with contextlib.AsyncExitStack() as held:
            try:
                if leases is not None and caller is not None and caller.max_concurrent:
                    await held.enter_async_context(leases.held_for(caller.identity, caller.max_concurrent))
                if streams is not None:
                    await held.enter_async_context(streams.slot())
            except ApplianceError as exc:
                await refuse(exc, scope, receive, send)
                return
            await self.app(scope, receive, send)


def _replaying(first: Message, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return replay
