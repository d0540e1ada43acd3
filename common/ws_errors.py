"""The WebSocket error contract, shared by the gateway and the ASR worker so every socket fails alike.

An error is one text frame `{"type": "error", "error": {"message", "type", "param", "code"}}` (the
HTTP error body with a type) followed by a close whose code comes from the one table below, keyed
by the HTTP status the same error has over HTTP.
"""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

NORMAL = 1000
UNSUPPORTED_DATA = 1003  # a kind of data the endpoint does not take
INVALID_DATA = 1007  # a frame that cannot be read (bad JSON, half a sample)
POLICY_VIOLATION = 1008  # the client's mistake: a bad parameter, auth, license, quota, idle
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011  # the server or what it calls failed
TRY_AGAIN_LATER = 1013  # not ready or busy: retry shortly

_BY_STATUS = {400: INVALID_DATA, 413: MESSAGE_TOO_BIG, 415: UNSUPPORTED_DATA, 503: TRY_AGAIN_LATER}


def close_code(status: int) -> int:
    """The close code of an error whose HTTP status is `status`."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return INTERNAL_ERROR if status >= 500 else POLICY_VIOLATION


def status_of(code: int | None) -> int:
    """An HTTP status whose close code is `code`: a peer's error passed on keeps its close code."""
    statuses = {close: status for status, close in _BY_STATUS.items()} | {POLICY_VIOLATION: 403}
    return statuses.get(code or 0, 502)


def is_deliberate(code: int | None) -> bool:
    """Whether a peer's close code is one this contract sends on purpose (not a crash or a drop)."""
    return code in (NORMAL, POLICY_VIOLATION, TRY_AGAIN_LATER, *_BY_STATUS.values())


def error_body(
    message: str, *, code: str, error_type: str, param: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON error body, the same over HTTP and WebSockets."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code, **extra}}


def error_type_for(status: int) -> str:
    return "server_error" if status >= 500 else "invalid_request_error"


async def send_error(websocket: WebSocket, body: dict[str, Any], status: int) -> None:
    """Send the error frame, then close with the table's code. A client already gone is no error."""
    if websocket.client_state is not WebSocketState.CONNECTED:
        return
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
        await websocket.send_json({"type": "error", **body})
        await websocket.close(close_code(status), str(body["error"]["code"])[:120])
