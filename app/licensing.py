"""License enforcement and usage metering for every API route (pure ASGI: streaming-safe).

Contract with the routes: a route sets `request.state.audio_seconds` (float, audio in or out) and
`request.state.characters` (int, a count of text characters) when it knows them (WebSocket routes:
`websocket.state`). Both land in `scope["state"]`, which this middleware reads once the response
or the connection has ended, and sends as one metadata record to the license proxy.
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

_EXEMPT_EXACT = frozenset({"/health", "/metrics", "/openapi.json", "/docs", "/redoc"})
_EXEMPT_PREFIXES = ("/health/", "/metrics/", "/docs/")

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


def check(client: LicenseClient, features: tuple[str, ...], is_stream: bool) -> None:
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
    streams = view.quotas.get("concurrent_streams")
    if is_stream and streams is not None and client.active_streams >= streams:
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
        is_stream = scope["type"] == "websocket" and "streaming" in features
        started = time.perf_counter()
        status = 0

        async def send_tracking(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
            elif kind == "websocket.accept":
                status = 101
            elif kind == "websocket.close" and status == 0:
                status = 403  # closed before the handshake completed: refused
            await send(message)

        try:
            try:
                check(client, features, is_stream)
            except ApplianceError as exc:
                log.info(
                    "request refused by license", extra={"fields": {"code": exc.code, "path": scope["path"]}}
                )
                await _refuse(exc, scope, receive, send_tracking)
                return
            if is_stream:
                client.active_streams += 1  # reserved before the handshake; released when it ends
            try:
                await self.app(scope, receive, send_tracking)
            finally:
                if is_stream:
                    client.active_streams -= 1
        finally:
            client.report(_record(scope, features, status or 500, started))


async def _refuse(exc: ApplianceError, scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP: the JSON error. WebSocket: the same JSON as a denial response where the server supports
    it (uvicorn does), else a policy-violation close carrying the message."""
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
        return
    await error_response(exc)(scope, receive, send)


def _record(scope: Scope, features: tuple[str, ...], status: int, started: float) -> dict[str, Any]:
    """Metadata only: counts and durations, never text or audio."""
    state = scope.get("state") or {}
    route = getattr(scope.get("route"), "path", None) or scope["path"]
    return {
        "record_id": uuid.uuid4().hex,
        "request_id": str(state.get("request_id", ""))[:64],
        "ts": time.time(),
        "route": route[:200],
        "method": scope.get("method", "WS"),
        "features": list(features),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "audio_seconds": max(0.0, float(state.get("audio_seconds") or 0.0)),
        "characters": max(0, int(state.get("characters") or 0)),
    }
