"""Pure ASGI middleware (streaming-safe): request ids, request metrics with the access log line, and
the deadline on reading a request body."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logging import request_id_var
from common.metrics import ACTIVE_STREAMS, LATENCY, REQUESTS

from .errors import RequestTimeout

access_log = logging.getLogger("app.access")


class RequestMiddleware:
    """Middleware that acts on HTTP requests and WebSocket sessions (`handle`) and passes anything
    else (the lifespan) through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def is_streamed(message: Message) -> bool:
    """A response sent without Content-Length is streamed (chunked) and open until its body ends."""
    if message["status"] < 200 or message["status"] in (204, 304):
        return False  # no body at all
    return not any(name.lower() == b"content-length" for name, _ in message.get("headers") or ())


class RequestIdMiddleware(RequestMiddleware):
    """Accept X-Request-ID (or make one), return it, and put it on every log line of the request."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def route_template(scope: Scope) -> str:
    """The matched route's template (bounded label values), not the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware(RequestMiddleware):
    """Request counts, latency, active streams, and the access-log line, measured once."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = "0"
        method = scope.get("method", "WS")
        stream_kind: str | None = None  # set while this request counts in gateway_active_streams

        async def record_status(message: Message) -> None:
            nonlocal status, stream_kind
            if message["type"] == "http.response.start":
                status = str(message["status"])
                if is_streamed(message):
                    stream_kind = "http"
                    ACTIVE_STREAMS.labels(stream_kind).inc()
            elif message["type"] == "websocket.accept":
                status = "101"
                stream_kind = "websocket"
                ACTIVE_STREAMS.labels(stream_kind).inc()
            elif message["type"] == "websocket.http.response.start":
                status = str(message["status"])  # a handshake refused with the HTTP error (app.errors.refuse)
            elif message["type"] == "websocket.close" and status == "0":
                status = "403"  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            status = "500"
            raise
        finally:
            if stream_kind is not None:
                ACTIVE_STREAMS.labels(stream_kind).dec()
            route = route_template(scope)
            elapsed = time.perf_counter() - started
            REQUESTS.labels(route, method, status).inc()
            LATENCY.labels(route, method).observe(elapsed)
            # The one access-log line (inside RequestIdMiddleware, so it carries the request id).
            # Route template only, never the path's values, query string or body: they may carry text.
            access_log.info(
                "request",
                extra={"fields": {
                    "method": method, "route": route, "status": int(status), "ms": round(elapsed * 1000, 1)
                }},
            )


class BodyTimeoutMiddleware:
    """A request body must arrive within `timeout_s` of the first read: a client that trickles its
    upload gets 408 instead of holding a connection (and a worker's memory) indefinitely."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        body_done = False

        async def bounded() -> Message:
            nonlocal deadline, body_done
            if body_done:  # after the body only a disconnect can come: no limit on waiting for it
                return await receive()
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(
                    f"the request body did not arrive within {self.timeout_s:g} s (BODY_READ_TIMEOUT_S)"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, bounded, send)
