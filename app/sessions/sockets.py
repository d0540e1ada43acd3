"""The WebSocket plumbing every session uses: reading the client's frames under the idle deadline,
JSON frames, query values, and failing with the one error frame and close-code table
(common.ws_errors). Admission (MAX_STREAM_SESSIONS) happens before the route: app.sessions.admission."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from fastapi import WebSocket
from starlette.types import Message

from app.errors import ApplianceError, InvalidParameter, as_appliance_error
from common import ws_errors
from tts_engine.base import SamplingParams

ErrorShape = Callable[[ApplianceError], dict[str, Any]]


class ClientGone(Exception):
    """The client disconnected."""


async def receive(
    websocket: WebSocket, idle_s: float | None, until: asyncio.Future[Any] | None = None
) -> Message | None:
    """The client's next frame. A client silent for `idle_s` (None: no deadline) is a 422 naming
    `idle`; None when `until` (the session's own work) finishes first."""
    receiving = asyncio.ensure_future(websocket.receive())
    waiting = {receiving} if until is None else {receiving, until}
    done, _ = await asyncio.wait(waiting, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED)
    if receiving not in done:
        receiving.cancel()
        if until is not None and until in done:
            return None
        raise InvalidParameter(f"no message for {idle_s:g} s", param="idle")
    message = receiving.result()
    if message["type"] == "websocket.disconnect":
        raise ClientGone
    return message


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
