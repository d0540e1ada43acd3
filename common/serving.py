"""How every HTTP program of the appliance runs under uvicorn: a deadline on receiving each request,
a deadline on sending to a client that has stopped reading, and a graceful drain on SIGTERM
(common/drain.py).

Receipt deadline: uvicorn has no timeout for receiving a request. Its keep-alive timer is cancelled by
every byte that arrives, and ASGI middleware runs only once the headers are parsed (uvicorn issue
#157), so a client that trickles its headers a byte a second holds a connection forever (slowloris).
The protocol below arms a timer when a connection opens and when a request's first byte arrives,
re-arms it for the body once the headers are in, and disarms it when the request is complete or the
connection becomes a WebSocket; when it fires, the connection is closed (with a 408 when no response
has started).

Send deadline: a client that stops reading (a response or WebSocket it never consumes) fills the
connection's write buffer; uvicorn then holds every further send (bounded memory) but waits for it
forever, and with it whatever the handler holds (an engine slot, a session). When a connection's
buffer has stayed full for `send_timeout_s`, it is cut: an HTTP connection is aborted (the handler's
stream is cancelled), a WebSocket gets a close frame 1008 "client not reading" behind what is
buffered and is aborted if the client has not read up to it a few seconds later; the handler's next
send raises as if the client had left.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import struct
import termios
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from .drain import Drain, DrainMiddleware
from .ws_errors import POLICY_VIOLATION

log = logging.getLogger(__name__)

# The app answers a stalled body itself (408 JSON, BODY_READ_TIMEOUT_S, where it reads one); the
# connection-level deadline is the backstop for bodies no handler reads, so it fires a little later.
BODY_DEADLINE_MARGIN_S = 5.0
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
SEND_TIMEOUT_S = 30.0
CLOSE_GRACE_S = 5.0  # after a stalled WebSocket's close frame: time to read up to it


class SendDeadline:
    """Watches a connection while its write buffer is full (between the transport's pause_writing and
    resume_writing) and calls `expired` when the client has taken none of what waits for `timeout_s`.

    Progress is what leaves the buffers: the transport's, and the kernel's send queue (SIOCOUTQ, on
    Linux), which shrinks as the client's acknowledgements come in. The transport's buffer alone
    drains in bursts (the socket reports room only once half the kernel's queue has gone), so a client
    reading steadily but slowly could look stalled for longer than the deadline."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: Callable[[], asyncio.BaseTransport | None],
        timeout_s: float, expired: Callable[[], None],
    ) -> None:
        self._loop, self._transport, self._timeout_s, self._expired = loop, transport, timeout_s, expired
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = 0  # bytes waiting in both buffers at the last look
        self._since = 0.0  # when the client last took something

    def paused(self) -> None:
        if self._timer is None:
            self._waiting, self._since = self._waiting_bytes(), self._loop.time()
            self._schedule()

    def resumed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = self._loop.call_later(min(1.0, self._timeout_s / 4), self._look)

    def _look(self) -> None:
        waiting, now = self._waiting_bytes(), self._loop.time()
        if waiting < self._waiting:
            self._since = now
        self._waiting = waiting
        if now - self._since >= self._timeout_s:
            self._timer = None
            self._expired()
        else:
            self._schedule()

    def _waiting_bytes(self) -> int:
        transport = self._transport()
        if transport is None:
            return 0
        waiting = transport.get_write_buffer_size()  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, ValueError, AttributeError):  # not Linux, or closed: the buffer alone
            waiting += struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        return waiting


def _stalled(client: tuple[str, int] | None, kind: str, timeout_s: float) -> None:
    log.info(
        "closed a connection whose client took nothing for the send deadline",
        extra={"fields": {"kind": kind, "client": client[0] if client else None, "timeout_s": timeout_s}},
    )


class _SendDeadlineMixin:
    """A uvicorn protocol with the send deadline: flow control tells when the client stops taking data.
    Mixed in before the protocol class; `_send_expired` is the protocol's own way to end the connection."""

    send_timeout_s = SEND_TIMEOUT_S
    loop: asyncio.AbstractEventLoop

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._send_deadline = SendDeadline(
            self.loop, lambda: getattr(self, "transport", None), self.send_timeout_s, self._send_expired
        )

    def _send_expired(self) -> None:
        raise NotImplementedError

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]
        self._send_deadline.paused()

    def resume_writing(self) -> None:
        super().resume_writing()  # type: ignore[misc]
        self._send_deadline.resumed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._send_deadline.resumed()
        super().connection_lost(exc)  # type: ignore[misc]


class ReceiptDeadlineProtocol(_SendDeadlineMixin, HttpToolsProtocol):
    """uvicorn's httptools protocol (what its "auto" picks) with a deadline on receiving a request."""

    header_timeout_s = 15.0
    body_timeout_s = 125.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._receipt: asyncio.TimerHandle | None = None
        self._phase = "headers"

    def _send_expired(self) -> None:
        if not self.transport.is_closing():
            _stalled(self.client, "http", self.send_timeout_s)
            self.transport.abort()  # connection_lost: the handler's sends end, its stream is cancelled

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


class SendDeadlineWebSocketProtocol(_SendDeadlineMixin, WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (what its "auto" picks) with the send deadline."""

    def _send_expired(self) -> None:
        if self.transport.is_closing():
            return
        _stalled(self.client, "websocket", self.send_timeout_s)
        if not self.close_sent:
            try:
                self.conn.send_close(POLICY_VIOLATION, "client not reading")
                self.transport.write(b"".join(self.conn.data_to_send()))
            except InvalidState:
                pass
            self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": POLICY_VIOLATION})
        self.transport.close()  # writes what it can of the buffer, the close frame last
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(CLOSE_GRACE_S, self.transport.abort)
        self.disconnected = True  # the handler's send waiting for room raises ClientDisconnected now
        self.writable.set()


def receipt_deadline_protocol(
    header_timeout_s: float, body_timeout_s: float, send_timeout_s: float = SEND_TIMEOUT_S
) -> type[ReceiptDeadlineProtocol]:
    """The protocol class for uvicorn's `http=`, with these deadlines."""
    return type(
        "ReceiptDeadlineProtocol",
        (ReceiptDeadlineProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s + BODY_DEADLINE_MARGIN_S,
            "send_timeout_s": send_timeout_s,
        },
    )


def send_deadline_ws_protocol(send_timeout_s: float = SEND_TIMEOUT_S) -> type[SendDeadlineWebSocketProtocol]:
    """The protocol class for uvicorn's `ws=`, with this send deadline."""
    return type("SendDeadlineWebSocketProtocol", (SendDeadlineWebSocketProtocol,), {"send_timeout_s": send_timeout_s})


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


class ServingSettings(BaseSettings):
    """The deadlines and the drain of every HTTP program (gateway, ASR worker, license proxy): each
    process's settings object inherits them, so one variable means one thing everywhere."""

    drain_timeout_s: float = Field(
        30.0,
        description="On SIGTERM: readiness fails and new work gets 503 at once; in-flight requests and "
        "WebSocket sessions may take this long to finish, then what is left is closed (WebSockets with 1001).",
    )
    header_read_timeout_s: float = Field(
        15.0,
        gt=0,
        description="A request's headers must arrive within this many seconds of its first byte (or of the "
        "connection opening); slower clients (slowloris) are disconnected.",
    )
    body_read_timeout_s: float = Field(
        120.0, gt=0, description="A request body must arrive within this many seconds (408 beyond)."
    )
    send_timeout_s: float = Field(
        SEND_TIMEOUT_S,
        gt=0,
        description="A client that takes none of the response (HTTP or WebSocket) for this long while the "
        "server has more to send is disconnected (a WebSocket with 1008).",
    )


def serve(
    app: ASGIApp,
    settings: ServingSettings,
    *,
    host: str,
    port: int,
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
        http=receipt_deadline_protocol(
            settings.header_read_timeout_s, settings.body_read_timeout_s, settings.send_timeout_s
        ),
        ws=send_deadline_ws_protocol(settings.send_timeout_s),
        # The drain already waited: what is left after it gets a moment, then is cancelled.
        timeout_graceful_shutdown=2,
        **uvicorn_options,
    )
    DrainingServer(config, drain, settings.drain_timeout_s).run()
