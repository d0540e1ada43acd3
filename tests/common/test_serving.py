"""common/serving.py on a real uvicorn: the receipt deadline drops slowloris and idle connections but
not slow-yet-complete requests or WebSockets; the send deadline cuts a client that stops reading (its
handler's stream ends, a WebSocket's close says 1008) but not one that reads slowly; the drain serves
open sessions to their end, refuses new work with 503 + Retry-After, and closes what is left at the
deadline with 1001."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.drain import Drain, DrainMiddleware
from common.serving import DrainingServer, ReceiptDeadlineProtocol, send_deadline_ws_protocol
from tests.support import free_port, until, wait_until
from tests.support.attacker import not_reading, ws_close_code, ws_handshake

HEADER_S = 1.5
BODY_S = 2.0
SEND_S = 1.5
CHUNK = b"x" * 65536
ENDED = {"http": threading.Event(), "websocket": threading.Event()}  # set when a flood's handler ends


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _upload(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ready"})


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close(1000)
                return
            await websocket.send_text(f"echo {text}")
    except WebSocketDisconnect:
        pass


async def _flood(request: Request) -> StreamingResponse:
    """An endless response, as a long synthesis is to a client that does not read it."""

    async def body() -> object:
        try:
            while True:
                yield CHUNK
                await asyncio.sleep(0)  # as a real producer awaits its engine
        finally:
            ENDED["http"].set()

    return StreamingResponse(body())


async def _ws_flood(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_bytes(CHUNK)
    except WebSocketDisconnect:
        pass
    finally:
        ENDED["websocket"].set()


APP = Starlette(
    routes=[
        Route("/", _ok),
        Route("/upload", _upload, methods=["POST"]),
        Route("/flood", _flood),
        Route("/health", _health),
        Route("/health/live", _health),
        WebSocketRoute("/ws", _echo),
        WebSocketRoute("/ws-flood", _ws_flood),
    ]
)


@contextmanager
def running(drain_timeout_s: float = 30.0) -> Iterator[tuple[DrainingServer, int]]:
    """The real uvicorn, as serve() builds it, in a thread (signals: call server.handle_exit)."""
    port = free_port()
    protocol = type(
        "Deadlines", (ReceiptDeadlineProtocol,),
        {"header_timeout_s": HEADER_S, "body_timeout_s": BODY_S, "send_timeout_s": SEND_S},
    )
    drain = Drain(retry_after_s=7, readiness_paths=("/health",), open_paths=("/health/live",))
    config = uvicorn.Config(
        DrainMiddleware(APP, drain), host="127.0.0.1", port=port, log_config=None, http=protocol,
        ws=send_deadline_ws_protocol(SEND_S), timeout_graceful_shutdown=2,
    )
    server = DrainingServer(config, drain, drain_timeout_s)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, "uvicorn")
    try:
        yield server, port
    finally:
        server.should_exit = server.force_exit = True
        thread.join(15)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_client_that_stops_reading_a_response_is_cut_at_the_send_deadline() -> None:
    ENDED["http"].clear()
    with running() as (_, port):
        sock = not_reading(port, b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        try:
            # The handler's stream ends: it held no slot, no memory past the full buffer, after it.
            assert ENDED["http"].wait(SEND_S + 10), "the stream to a client that reads nothing never ended"
            assert time.monotonic() - started >= SEND_S - 0.2
        finally:
            sock.close()


def test_a_websocket_client_that_stops_reading_is_closed_with_1008() -> None:
    ENDED["websocket"].clear()
    with running() as (_, port):
        with not_reading(port, ws_handshake("/ws-flood")) as sock:
            started = time.monotonic()
            assert ENDED["websocket"].wait(SEND_S + 10), "the session with a client that reads nothing never ended"
            assert time.monotonic() - started >= SEND_S - 0.2
            sock.settimeout(5)
            received = _read_until_closed(sock)  # it reads again: what was buffered, then the close frame
        assert received.startswith(b"HTTP/1.1 101 ")
        assert ws_close_code(received) == 1008


def test_a_client_that_reads_slowly_is_not_cut() -> None:
    ENDED["http"].clear()
    with running() as (_, port), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        received, started = 0, time.monotonic()
        while time.monotonic() - started < SEND_S * 3:  # a stall shorter than the deadline, again and again
            received += len(sock.recv(65536))
            time.sleep(SEND_S / 8)
        assert not ENDED["http"].is_set() and received > 0


def test_slowloris_headers_are_cut_at_the_deadline() -> None:
    with running() as (_, port), socket.create_connection(("127.0.0.1", port)) as sock:
        request = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"a" * 40 + b"\r\n\r\n"
        sent, started = 0, time.monotonic()
        try:
            for byte in request:  # a byte every 0.1 s: 4 s for the whole request, if allowed
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        answer = _read_until_closed(sock)
        assert sent < len(request), "the whole trickled request was accepted"
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < HEADER_S + 1.5


def test_a_connection_that_sends_nothing_is_closed() -> None:
    with running() as (_, port), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(HEADER_S + 5)
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408 ")


def test_slow_but_complete_requests_and_keep_alive_are_served() -> None:
    with running() as (_, port), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        for _ in range(3):  # each request under its deadline, the connection kept alive between them
            for piece in (b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
                sock.sendall(piece)
                time.sleep(HEADER_S / 4)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        body = b"x" * 3000
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n")
        for start in range(0, len(body), 1000):  # the body in three pieces, well inside its deadline
            time.sleep(BODY_S / 5)
            sock.sendall(body[start : start + 1000])
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"bytes":3000}')


def test_a_stalled_body_is_cut_at_its_deadline() -> None:
    with running() as (_, port), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        sock.settimeout(BODY_S + 5)
        started = time.monotonic()
        answer = _read_until_closed(sock)  # the handler is reading: the connection is closed under it
        assert b"200" not in answer
        assert BODY_S - 0.5 < time.monotonic() - started < BODY_S + 2


async def test_a_websocket_outlives_the_receipt_deadline() -> None:
    with running() as (_, port):
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await asyncio.sleep(HEADER_S + BODY_S + 0.5)  # idle past both deadlines
            await ws.send("still here")
            assert await ws.recv() == "echo still here"


async def test_drain_serves_the_open_session_refuses_new_work_and_exits() -> None:
    with running() as (server, port):
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws, httpx.AsyncClient() as http:
            server.handle_exit(signal.SIGTERM, None)  # what uvicorn's signal handler calls
            await until(lambda: server.drain.draining and server._drainer is not None, 2.5, "the server to drain")
            # New work: 503 + Retry-After, readiness says draining, liveness stays up.
            refused = await http.get(f"http://127.0.0.1:{port}/")
            assert refused.status_code == 503 and refused.headers["retry-after"] == "7"
            assert refused.json()["error"]["code"] == "shutting_down"
            ready = await http.get(f"http://127.0.0.1:{port}/health")
            assert ready.status_code == 503 and ready.json()["status"] == "draining"
            assert (await http.get(f"http://127.0.0.1:{port}/health/live")).status_code == 200
            with pytest.raises(InvalidStatus) as handshake:
                async with connect(f"ws://127.0.0.1:{port}/ws"):
                    pass
            assert handshake.value.response.status_code == 503
            assert json.loads(handshake.value.response.body)["error"]["code"] == "shutting_down"
            # The open session goes on, and ends normally.
            for n in range(3):
                await ws.send(f"m{n}")
                assert await ws.recv() == f"echo m{n}"
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        # Nothing left in flight: the server stops at once, not at the drain deadline.
        await asyncio.to_thread(wait_until, lambda: not server.started or server.should_exit, 10, "exit")


async def test_a_session_still_open_at_the_deadline_is_closed_with_1001() -> None:
    with running(drain_timeout_s=1.0) as (server, port):
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            server.handle_exit(signal.SIGTERM, None)
            await ws.send("one")
            assert await ws.recv() == "echo one"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)  # the client says nothing more: the deadline comes
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        await asyncio.to_thread(wait_until, lambda: server.should_exit, 10, "exit")
