"""The gateway's one way to fail a WebSocket: the errors of app.errors, in the shape and with the
close codes of common.ws_errors (shared with the ASR worker). The README documents both."""

from __future__ import annotations

import json

from fastapi import WebSocket
from starlette.types import Receive, Scope, Send

from common import ws_errors

from .errors import ApplianceError, as_appliance_error, error_response


def close_code(exc: ApplianceError) -> int:
    return ws_errors.close_code(exc.status_code)


async def send_error(websocket: WebSocket, exc: BaseException) -> None:
    """Fail an accepted session: the error frame, then the close code of its kind."""
    error = as_appliance_error(exc)
    await ws_errors.send_error(websocket, error.body(), error.status_code)


async def refuse(exc: ApplianceError, scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a request before its route runs (middleware). HTTP and WebSocket handshakes get the
    JSON error with its status (a denial response, where the server supports it: uvicorn does);
    elsewhere the socket is accepted, sent the error frame and closed with its code."""
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        await error_response(exc)(scope, receive, send)
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"type": "error", **exc.body()})})
    await send({"type": "websocket.close", "code": close_code(exc), "reason": exc.code})
