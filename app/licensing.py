"""License enforcement and usage metering for every API route (pure ASGI: streaming-safe).

Contract with the routes: a route sets `request.state.audio_seconds` (float, audio in or out) and
`request.state.characters` (int, a count of text characters) when it knows them (WebSocket routes:
`websocket.state`). Both land in `scope["state"]`, which this middleware reads once the response
or the connection has ended, and sends as one metadata record to the license proxy.

Concurrent streams (the `concurrent_streams` quota) are WebSocket sessions of streaming routes and
HTTP responses sent streamed (no Content-Length: chunked audio, SSE). The routes need not say which:
a WebSocket is counted before its handshake, an HTTP response when its headers go out, where one
over the quota is replaced by the 429 and the route's body generator is stopped.
"""

from __future__ import annotations

import calendar
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clients.license import LicenseClient, LicenseView
from .errors import (
    ApplianceError,
    LicenseExpired,
    NotLicensed,
    OverQuota,
    UpstreamUnavailable,
    error_response,
)

log = logging.getLogger(__name__)

_EXEMPT_EXACT = frozenset({"/health", "/metrics", "/openapi.json", "/docs", "/redoc", "/"})
_EXEMPT_PREFIXES = ("/health/", "/metrics/", "/docs/", "/playground/")

# Path -> features it uses. Longest match wins; a sub-path (e.g. /v1/voices/{id}) inherits.
ROUTE_FEATURES: dict[str, tuple[str, ...]] = {
    "/v1/audio/speech": ("tts",),
    "/v1/text-to-speech": ("tts",),
    "/v1/speak": ("tts",),
    "/v1/voices": ("tts",),
    "/v1/listen": ("asr",),
    "/v1/audio/transcriptions": ("asr",),
    "/v1/listen/stream": ("asr", "streaming"),
    "/v1/speak/stream": ("tts", "streaming"),
}
_BY_LENGTH = sorted(ROUTE_FEATURES, key=len, reverse=True)
_AUDIO_FEATURES = frozenset({"tts", "asr"})


def is_exempt(path: str) -> bool:
    return path in _EXEMPT_EXACT or path.startswith(_EXEMPT_PREFIXES)


def features_for(path: str) -> tuple[str, ...]:
    for prefix in _BY_LENGTH:
        if path == prefix or path.startswith(prefix + "/"):
            return ROUTE_FEATURES[prefix]
    return ()


def _seconds_to_utc_midnight() -> int:
    now = time.gmtime()
    midnight = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0)) + 86400
    return max(1, int(midnight - time.time()))


def check(client: LicenseClient, features: tuple[str, ...]) -> None:
    """Raise the error that refuses this request, or return when it may be served."""
    view: LicenseView | None = client.status
    if view is None:
        raise UpstreamUnavailable("the license status is not known yet; retry shortly (see GET /health)")
    if view.mode == "disabled":
        return  # the proxy runs disabled though the gateway was not told: still serve
    if not view.valid:
        error = LicenseExpired if view.expired else NotLicensed
        raise error(f"{view.reason} (see GET /health)", extra={"license_code": view.code})
    missing = [f for f in features if f not in view.features]
    if missing:
        raise NotLicensed(
            f"this license does not include the '{missing[0]}' feature; other routes keep working. "
            "Ask your vendor for a license that includes it.",
            extra={"license_code": "feature_not_licensed", "feature": missing[0]},
        )
    hours = view.quotas.get("audio_hours_per_day")
    if hours is not None and _AUDIO_FEATURES.intersection(features):
        used = client.audio_seconds_today()
        if used >= hours * 3600:
            raise OverQuota(
                f"the daily audio quota is used up ({used / 3600:.2f} of {hours:g} hours today, UTC); "
                "it resets at 00:00 UTC",
                headers={"Retry-After": str(_seconds_to_utc_midnight())},
                extra={"quota": "audio_hours_per_day"},
            )


def check_streams(client: LicenseClient) -> None:
    """Raise when one more concurrent stream would exceed the licensed number."""
    view = client.status
    streams = view.quotas.get("concurrent_streams") if view is not None else None
    if streams is not None and client.active_streams >= streams:
        raise OverQuota(
            f"{client.active_streams} streams are open, the licensed maximum is {streams:g}; "
            "close one and retry",
            headers={"Retry-After": "1"},
            extra={"quota": "concurrent_streams"},
        )


class LicenseMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        client: LicenseClient | None = getattr(scope["app"].state, "license", None)
        if client is None:  # the lifespan has not made the client: fail closed, visibly
            await _refuse(UpstreamUnavailable("license client not started"), scope, receive, send)
            return
        if client.mode == "disabled":  # explicit operator choice; /health says "unlicensed"
            await self.app(scope, receive, send)
            return
        features = features_for(scope["path"])
        ws_stream = scope["type"] == "websocket" and "streaming" in features
        started = time.perf_counter()
        status = 0
        counted = False  # this request holds one of the licensed concurrent streams
        served = True  # False: refused, so the record carries no usage

        def refused(exc: ApplianceError) -> None:
            nonlocal served
            served = False
            log.info("request refused by license", extra={"fields": {"code": exc.code, "path": scope["path"]}})

        async def send_tracking(message: Message) -> None:
            nonlocal status, counted
            kind = message["type"]
            if kind == "http.response.start" and not counted and _is_streamed(message):
                try:
                    check_streams(client)
                except OverQuota as exc:
                    refused(exc)
                    status = exc.status_code
                    await error_response(exc)(scope, receive, send)
                    raise _StreamRefused from exc
                client.active_streams += 1
                counted = True
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == 0:
                status = 403  # closed before the handshake completed: refused
            await send(message)

        try:
            try:
                check(client, features)
                if ws_stream:
                    check_streams(client)
            except ApplianceError as exc:
                refused(exc)
                await _refuse(exc, scope, receive, send_tracking)
                return
            if ws_stream:
                client.active_streams += 1  # reserved before the handshake; released when it ends
                counted = True
            try:
                await self.app(scope, receive, send_tracking)
            except _StreamRefused:
                pass  # the 429 went out instead; the route's generator was closed on the way up
            finally:
                if counted:
                    client.active_streams -= 1
        finally:
            client.report(_record(scope, features, status or 500, started, served))


class _StreamRefused(Exception):
    """Raised into the route from `send` to stop a streamed response refused by the quota. No error
    handler matches it, so it reaches the middleware unhandled, closing the body generator."""


def _is_streamed(message: Message) -> bool:
    """A response sent without Content-Length is streamed (chunked) and open until its body ends."""
    if message["status"] < 200 or message["status"] in (204, 304):
        return False  # no body at all
    return not any(name.lower() == b"content-length" for name, _ in message.get("headers") or ())


async def _refuse(exc: ApplianceError, scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP: the JSON error. WebSocket: the same JSON as a denial response where the server supports
    it (uvicorn does), else a policy-violation close carrying the message."""
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
        return
    await error_response(exc)(scope, receive, send)


def _record(
    scope: Scope, features: tuple[str, ...], status: int, started: float, served: bool
) -> dict[str, Any]:
    """Metadata only: counts and durations, never text or audio. A refused request used nothing,
    though a stream refused at its first bytes had already begun to synthesise."""
    state = (scope.get("state") or {}) if served else {}
    route = getattr(scope.get("route"), "path", None) or scope["path"]
    return {
        "record_id": uuid.uuid4().hex,
        "request_id": str((scope.get("state") or {}).get("request_id", ""))[:64],
        "ts": time.time(),
        "route": route[:200],
        "method": scope.get("method", "WS"),
        "features": list(features),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "audio_seconds": max(0.0, float(state.get("audio_seconds") or 0.0)),
        "characters": max(0, int(state.get("characters") or 0)),
    }
