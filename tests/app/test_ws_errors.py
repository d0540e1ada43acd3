"""The one WebSocket error path: a refusal where the server has no denial responses is the error
frame (the HTTP body) and the table's close code; with denial responses it is the HTTP error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.errors import (
    ApplianceError,
    BadRequest,
    InvalidParameter,
    NotLicensed,
    PayloadTooLarge,
    UnsupportedMedia,
    UpstreamStreamFailed,
    UpstreamUnavailable,
    refuse,
)


async def _refused(exc: ApplianceError, extensions: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/v1/x", "headers": [], "extensions": extensions}
    await refuse(exc, scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("error", "close_code"),
    [
        (BadRequest("half a sample"), 1007),
        (UnsupportedMedia("mulaw"), 1003),
        (PayloadTooLarge("too much text"), 1009),
        (UpstreamUnavailable("starting"), 1013),
        (UpstreamStreamFailed("worker gone"), 1011),
        (InvalidParameter("bad speed", param="speed"), 1008),
        (NotLicensed("no license", extra={"license_code": "revoked"}), 1008),
    ],
)
async def test_refusal_without_denial_responses_is_the_error_frame_and_the_table_code(
    error: ApplianceError, close_code: int
) -> None:
    accept, frame, close = await _refused(error, {})
    assert accept == {"type": "websocket.accept"}
    body = json.loads(frame["text"])
    assert body == {"type": "error", **error.body()}
    assert set(body["error"]) >= {"message", "type", "param", "code"}
    assert close == {"type": "websocket.close", "code": close_code, "reason": error.code}


async def test_refusal_with_denial_responses_is_the_http_error() -> None:
    start, body = await _refused(NotLicensed("no license"), {"websocket.http.response": {}})
    assert start["type"] == "websocket.http.response.start" and start["status"] == 403
    assert json.loads(body["body"])["error"]["code"] == "not_licensed"
