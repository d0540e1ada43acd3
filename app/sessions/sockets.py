"""The WebSocket plumbing every session uses: reading the client's frames under the session's two
deadlines, JSON frames, query values, and failing with the one error frame and close-code table
(common.ws_errors). Admission (MAX_STREAM_SESSIONS, per-key limits) happens before the route:
app.sessions.admission. A client that stops taking what is sent is disconnected below the app, by the
server's send deadline (common/serving.py, SEND_TIMEOUT_S).

Every session's loop reads the client through `receive`, so every session has both deadlines:
- idle: a client that sends nothing for WS_IDLE_TIMEOUT_S while nothing is owed to it (its loop says
  whether something is) gets a 422 naming `idle`;
- wall clock: WS_MAX_SESSION_S after its first read, a session gets a 408 naming `session`.
Both end the session with the error frame and close code 1008."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from fastapi import WebSocket
from starlette.types import Message

from app.errors import ApplianceError, InvalidParameter, RequestTimeout, as_appliance_error
from common import ws_errors
from tts_engine.base import SamplingParams

ErrorShape = Callable[[ApplianceError], dict[str, Any]]


class ClientGone(Exception):
    """The client disconnected."""


@dataclass(frozen=True)
class SocketLimits:
    """What the lifespan keeps at `app.state.socket_limits`."""

    idle_s: float = 30.0  # WS_IDLE_TIMEOUT_S
    max_session_s: float = 3600.0  # WS_MAX_SESSION_S


async def receive(
    websocket: WebSocket, *, owed: bool = False, until: asyncio.Future[Any] | None = None
) -> Message | None:
    """The client's next frame, under the session's deadlines (the module docstring); `owed`: the
    client waits for something, so its silence is no idleness. None when `until` (the session's own
    work) finishes first."""
    limits: SocketLimits = getattr(websocket.app.state, "socket_limits", None) or SocketLimits()
    now = asyncio.get_running_loop().time()
    ends: float = websocket.scope.setdefault("state", {}).setdefault("session_ends", now + limits.max_session_s)
    timeout = ends - now if owed else min(limits.idle_s, ends - now)
    receiving = asyncio.ensure_future(websocket.receive())
    waiting = {receiving} if until is None else {receiving, until}
    done, _ = await asyncio.wait(waiting, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED)
    if receiving not in done:
        receiving.cancel()
        if until is not None and until in done:
            return None
        if asyncio.get_running_loop().time() >= ends - 0.01:  # (timers may fire a hair early)
            raise RequestTimeout(
                f"the session reached its time limit of {limits.max_session_s:g} s (WS_MAX_SESSION_S); "
                "open a new one", param="session",
            )
        raise InvalidParameter(f"no message for {limits.idle_s:g} s", param="idle")
    message = receiving.result()
    if message["type"] == "websocket.disconnect":
        raise ClientGone
    return message


async def each_message(websocket: WebSocket, handle: Callable[[Message], Awaitable[None]]) -> ApplianceError | None:
    """Hand each client frame to `handle` (under the deadlines of `receive`) until the client leaves
    (None) or an error ends the session: a deadline's, or one `handle` raised (for the caller to fail
    the session with)."""
    try:
        while True:
            message = await receive(websocket)
            assert message is not None  # receive gives None only for an `until`
            await handle(message)
    except ClientGone:
        return None
    except ApplianceError as exc:
        return exc


def json_object(message: Message) -> dict[str, Any]:
    """A text frame holding one JSON object."""
    if message.get("text") is None:
        raise InvalidParameter("send JSON text frames, not binary", param="message")
    try:
        parsed = json.loads(message["text"])
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidParameter("messages must be JSON objects", param="message")
    return parsed


async def fail(websocket: WebSocket, exc: BaseException, shape: ErrorShape | None = None) -> None:
    """End a session with its error: the frame (in the surface's `shape`, by default the HTTP error
    body), then the close code of its kind. A client already gone is no error."""
    error = as_appliance_error(exc)
    await ws_errors.send_error(websocket, shape(error) if shape else error.body(), error.status_code)


def query_number(query: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    """A number in the query (None when absent or empty)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number", param=name) from None


def query_sampling(query: Mapping[str, str]) -> SamplingParams:
    """The sampling fields of a query (their bounds are checked with every request's)."""
    return SamplingParams(**{
        spec.name: query_number(query, spec.name, int if "int" in str(spec.type) else float)
        for spec in fields(SamplingParams)
    })
