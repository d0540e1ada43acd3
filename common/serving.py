"""How every HTTP program of the appliance runs under uvicorn: a deadline on receiving each request,
and a graceful drain on SIGTERM (common/drain.py).

Receipt deadline: uvicorn has no timeout for receiving a request. Its keep-alive timer is cancelled by
every byte that arrives, and ASGI middleware runs only once the headers are parsed (uvicorn issue
#157), so a client that trickles its headers a byte a second holds a connection forever (slowloris).
The protocol below arms a timer when a connection opens and when a request's first byte arrives,
re-arms it for the body once the headers are in, and disarms it when the request is complete or the
connection becomes a WebSocket; when it fires, the connection is closed (with a 408 when no response
has started).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .drain import Drain, DrainMiddleware

log = logging.getLogger(__name__)

# The app answers a stalled body itself (408 JSON, BODY_READ_TIMEOUT_S, where it reads one); the
# connection-level deadline is the backstop for bodies no handler reads, so it fires a little later.
BODY_DEADLINE_MARGIN_S = 5.0
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class ReceiptDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (what its "auto" picks) with a deadline on receiving a request."""

    header_timeout_s = 15.0
    body_timeout_s = 125.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receipt: asyncio.TimerHandle | None = None
        self._phase = "headers"

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._receipt = self.loop.call_later(seconds, self._receipt_expired)

    def _disarm(self) -> None:
        if self._receipt is not None:
            self._receipt.cancel()
            self._receipt = None

    def _receipt_expired(self) -> None:
        self._receipt = None
        if self.transport.is_closing():
            return
        log.info(
            "closed a connection that did not send its request in time",
            extra={"fields": {"phase": self._phase, "client": self.client[0] if self.client else None}},
        )
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TIMEOUT_408)  # no handler owns this request yet: answer it here
        self.transport.close()

    # asyncio.Protocol and httptools parser callbacks
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.header_timeout_s)  # a connection that never sends a byte

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm("headers", self.header_timeout_s)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            self._disarm()  # a WebSocket: its session has its own limits
        else:
            self._arm("body", self.body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def receipt_deadline_protocol(header_timeout_s: float, body_timeout_s: float) -> type[ReceiptDeadlineProtocol]:
    """The protocol class for uvicorn's `http=`, with these deadlines."""
    return type(
        "ReceiptDeadlineProtocol",
        (ReceiptDeadlineProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s + BODY_DEADLINE_MARGIN_S},
    )


class DrainingServer(uvicorn.Server):
    """The first SIGTERM (or Ctrl-C) drains (common/drain.py) for up to drain_timeout_s, then shuts
    down as uvicorn does; a second one shuts down at once."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_timeout_s = drain_timeout_s
        self._drainer: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining or not self.started:
            super().handle_exit(sig, frame)
        else:
            self.drain.begin()  # signal handlers only set flags; on_tick starts the drain

    async def on_tick(self, counter: int) -> bool:
        if self.drain.draining and self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await super().on_tick(counter)

    async def _drain(self) -> None:
        log.info("draining", extra={"fields": {"in_flight": self.drain.active, "timeout_s": self.drain_timeout_s}})
        finished = await self.drain.wait_idle(self.drain_timeout_s)
        closed = await self.drain.close_sessions()
        log.info(
            "drained" if finished else "drain timed out",
            extra={"fields": {"left_in_flight": self.drain.active, "websockets_closed": closed}},
        )
        self.should_exit = True


def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    drain_timeout_s: float,
    header_timeout_s: float,
    body_timeout_s: float,
    retry_after_s: int = 5,
    readiness_paths: Iterable[str] = ("/health",),
    open_paths: Iterable[str] = ("/health/live", "/metrics"),
    **uvicorn_options: Any,
) -> None:
    """Run `app` until SIGTERM, then drain. Logging is the caller's (common.logging.setup_logging)."""
    drain = Drain(retry_after_s=retry_after_s, readiness_paths=readiness_paths, open_paths=open_paths)
    config = uvicorn.Config(
        DrainMiddleware(app, drain),
        host=host,
        port=port,
        log_config=None,
        http=receipt_deadline_protocol(header_timeout_s, body_timeout_s),
        # The drain already waited: what is left after it gets a moment, then is cancelled.
        timeout_graceful_shutdown=2,
        **uvicorn_options,
    )
    DrainingServer(config, drain, drain_timeout_s).run()
