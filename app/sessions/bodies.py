"""Byte caps on request bodies, enforced while a body is read, before anything parses or decodes it.

Every route takes one kind of body, each with its cap:

| kind | what | cap |
|---|---|---|
| `JSON` (the default) | a JSON request: text, lexicon, options | `MAX_JSON_BYTES` |
| `REFERENCE` | may carry a cloning reference: JSON with base64 audio, or multipart | `MAX_REFERENCE_BYTES` |
| `UPLOAD` | audio for transcription, raw or multipart | `MAX_UPLOAD_BYTES` |

A route that takes another kind than JSON says so where it is defined, with `@takes(Body.UPLOAD)`
under its router decorator (as with `licensed`). `BodyLimitMiddleware` finds the route a request will
reach: a Content-Length over the cap is answered 413 before the route runs; a body without one
(chunked) is counted as it streams, and the read that passes the cap raises the 413. That one is a
Starlette HTTPException, the only kind FastAPI's own JSON parsing passes on (any other becomes a 400);
the error handlers (app.errors) answer it as `payload_too_large` in the one JSON shape.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, refuse
from app.licensing import route_for

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_KIND_ATTR = "__body_kind__"


class Body(Enum):
    JSON = "MAX_JSON_BYTES"
    REFERENCE = "MAX_REFERENCE_BYTES"
    UPLOAD = "MAX_UPLOAD_BYTES"


def takes(kind: Body) -> Callable[[Endpoint], Endpoint]:
    """Declare the kind of body a route takes (put it under the router decorator)."""

    def declare(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _KIND_ATTR, kind)
        return endpoint

    return declare


def _message(kind: Body, cap: int) -> str:
    return f"the request body is larger than this service's limit of {cap} bytes ({kind.value})"


class BodyTooLarge(HTTPException):
    """The cap was passed while the body was read (see the module docstring for why an HTTPException)."""

    def __init__(self, kind: Body, cap: int) -> None:
        super().__init__(status_code=413, detail=_message(kind, cap))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, caps: dict[Body, int]) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_for(scope["app"].routes, scope)
        kind = getattr(getattr(route, "endpoint", None), _KIND_ATTR, Body.JSON)
        cap = self.caps[kind]
        length = _content_length(scope)
        if length is not None and length > cap:  # before a byte of it is read
            await refuse(PayloadTooLarge(_message(kind, cap)), scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:  # chunked, or more than its Content-Length said
                    raise BodyTooLarge(kind, cap)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
