"""Graceful drain as pure ASGI middleware: on SIGTERM (common/serving.py flips the switch) readiness
fails and new work is turned away with 503 + Retry-After while the work already in flight, HTTP
requests and WebSocket sessions alike, runs to its end; what is still open at the deadline is closed
with 1001 (going away) rather than cut.

uvicorn alone stops listening at once and closes every WebSocket with 1012 on shutdown, whatever
`timeout_graceful_shutdown` says; the listener stays open here so that late clients get an answer
they can act on (and probes see "draining") instead of a refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.ws_errors import error_body

log = logging.getLogger(__name__)

GOING_AWAY = 1001


@dataclass(eq=False)
class _Session:
    send: Send
    task: asyncio.Task[object] | None = field(default_factory=asyncio.current_task)
    closed_by_drain: bool = False


class Drain:
    """The in-flight work of one server, and the switch that turns new work away."""

    def __init__(self, *, retry_after_s: int, readiness_paths: Iterable[str], open_paths: Iterable[str]) -> None:
        self.retry_after_s = retry_after_s
        self.readiness_paths = frozenset(readiness_paths)  # answer 503 "draining" once draining
        self.open_paths = frozenset(open_paths)  # liveness, metrics: served as ever, never counted
        self.draining = False
        self.active = 0
        self._sessions: set[_Session] = set()
        self._changed = asyncio.Event()

    def begin(self) -> None:
        """Turn new work away from now on. Only sets a flag: safe in a signal handler."""
        self.draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Whether every request and session in flight finished within timeout_s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.active:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def close_sessions(self) -> int:
        """Close every WebSocket still open with 1001 and stop its handler; how many there were."""
        sessions = list(self._sessions)
        for session in sessions:
            session.closed_by_drain = True
            with contextlib.suppress(Exception):  # a socket already gone
                await session.send({"type": "websocket.close", "code": GOING_AWAY, "reason": "server shutting down"})
            if session.task is not None:
                session.task.cancel()
        return len(sessions)

    def _enter(self) -> None:
        self.active += 1

    def _leave(self) -> None:
        self.active -= 1
        self._changed.set()


class DrainMiddleware:
    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drain = self.drain
        if scope["type"] not in ("http", "websocket") or scope["path"] in drain.open_paths:
            await self.app(scope, receive, send)
            return
        if drain.draining:
            await self._refuse(scope, receive, send)
            return
        if scope["path"] in drain.readiness_paths:
            await self.app(scope, receive, send)
            return
        drain._enter()
        try:
            if scope["type"] == "http":
                await self.app(scope, receive, self._closing_when_draining(send))
            else:
                await self._session(scope, receive, send)
        finally:
            drain._leave()

    def _closing_when_draining(self, send: Send) -> Send:
        """A response that starts during the drain tells the client not to reuse the connection."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        return wrapped

    async def _session(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = _Session(send)

        async def guarded(message: Message) -> None:
            if not session.closed_by_drain:  # closed at the deadline: the handler's last words go nowhere
                await send(message)

        self.drain._sessions.add(session)
        try:
            await self.app(scope, receive, guarded)
        except asyncio.CancelledError:
            if not session.closed_by_drain:
                raise
            if session.task is not None:
                session.task.uncancel()  # our own cancel, done with: the server is not stopping this task
        finally:
            self.drain._sessions.discard(session)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = error_body(
            "the server is shutting down; retry on another instance",
            code="shutting_down",
            error_type="server_error",
        )
        if scope["path"] in self.drain.readiness_paths:
            body = {"status": "draining", **body}
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", str(self.drain.retry_after_s).encode()),
            (b"connection", b"close"),
        ]
        payload = json.dumps(body).encode()
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        await receive()  # websocket.connect
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": payload})
        else:
            await send({"type": "websocket.close", "code": GOING_AWAY})
