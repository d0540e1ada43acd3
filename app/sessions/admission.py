"""Admission: per-engine slots with a bounded wait queue, and the cap on open WebSocket sessions.

Beyond `max_active` running and `max_waiting` queued, or after waiting `max_wait_s`, a request is
refused at once with 503 + Retry-After instead of piling up behind the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import UpstreamUnavailable, refuse
from common.metrics import ENGINE_ACTIVE, ENGINE_WAITING


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

    async def acquire(self) -> None:
        if self._slots.locked():
            if self._waiting >= self.max_waiting:
                raise self._busy("queue full")
            self._waiting += 1
            ENGINE_WAITING.labels(self.engine).set(self._waiting)
            try:
                await asyncio.wait_for(self._slots.acquire(), self.max_wait_s)
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
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


class SessionLimitMiddleware:
    """Caps open WebSocket sessions with the `EngineLimiter` at `app.state.stream_limiter` (made in
    the lifespan). A session beyond the cap is refused in the handshake with 503 + Retry-After
    (or, where the server has no denial responses, accepted and closed at once with 1013)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: EngineLimiter | None = getattr(scope["app"].state, "stream_limiter", None)
        if scope["type"] != "websocket" or limiter is None:
            await self.app(scope, receive, send)
            return
        connect = await receive()  # websocket.connect: read here, replayed to the route below
        try:
            await limiter.acquire()
        except UpstreamUnavailable as exc:
            await refuse(exc, scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return connect
            return await receive()

        try:
            await self.app(scope, replay, send)
        finally:
            limiter.release()
