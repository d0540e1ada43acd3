"""License enforcement and usage metering for every API route (pure ASGI: streaming-safe).

Each route declares the features it uses where it is defined, with `@licensed("tts")` under its
router decorator. The middleware finds the route a request will reach and checks those features.
Closed by default: a `/v1/...` or `/waves/...` route that declares nothing is refused (403,
license_code `undeclared_route`), so a new route can never skip the check or the audio quota.
Paths outside those surfaces (/health, /metrics, /docs, the playground page) are not licensed.

Usage: the sessions meter what a request used (app/sessions/usage.py); once the response or the
connection has ended, this middleware sends it as one metadata record to the license proxy.

Concurrent streams (the `concurrent_streams` quota) are WebSocket sessions of streaming routes and
HTTP responses sent streamed (no Content-Length: chunked audio, SSE). The routes need not say which:
a WebSocket is counted before its handshake, an HTTP response when its headers go out, where one
over the quota is replaced by the 429 and the route's body generator is stopped.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send

from common.license_api import LicenseStatus

from .clients.license import LicenseClient
from .errors import (
    ApplianceError,
    LicenseExpired,
    NotLicensed,
    OverQuota,
    UpstreamUnavailable,
    error_response,
    refuse,
)
from .middleware import RequestMiddleware, is_streamed
from .sessions.usage import usage_record

log = logging.getLogger(__name__)

# The API surfaces whose every route must declare its features.
LICENSED_PREFIXES = ("/v1/", "/waves/")
_FEATURES_ATTR = "__license_features__"
_AUDIO_FEATURES = frozenset({"tts", "asr"})
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def licensed(*features: str) -> Callable[[Endpoint], Endpoint]:
    """Declare the license features a route's endpoint uses (put it under the router decorator).
    No features: any valid license serves it (catalogue routes such as /v1/models); it is still
    refused while the license is invalid, and it counts toward no audio quota."""

    def declare(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _FEATURES_ATTR, tuple(features))
        return endpoint

    return declare


def declared_features(route: object) -> tuple[str, ...] | None:
    """The features a route (or FastAPI route context) declared with `licensed`, or None."""
    return getattr(getattr(route, "endpoint", None), _FEATURES_ATTR, None)


def app_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Every route the app serves, routers included with include_router flattened (FastAPI keeps
    those behind one entry of app.routes), each with its full path, regex, methods and endpoint."""
    return iter_route_contexts(routes)


def is_licensed_path(path: str) -> bool:
    return path.startswith(LICENSED_PREFIXES) or path in ("/v1", "/waves")


class ApiMiddleware(RequestMiddleware):
    """Middleware that acts only on the API's licensed routes (`handle`); the rest passes through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not is_licensed_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)


def route_for(routes: Sequence[BaseRoute], scope: Scope) -> Any | None:
    """The route the router will pick for `scope`, in the router's order: the first full match,
    else the first one with the right path but not the method (its features apply to the 405)."""
    websocket = scope["type"] == "websocket"
    partial = None
    for route in app_routes(routes):
        regex = getattr(route, "path_regex", None)
        if regex is None or not regex.match(scope["path"]):
            continue
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount):
            return route
        if isinstance(original, WebSocketRoute) != websocket:
            continue
        methods = getattr(route, "methods", None)
        if websocket or not methods or scope.get("method") in methods:
            return route
        partial = partial or route
    return partial


class UndeclaredRoute(NotLicensed):
    """A licensed-surface route without a `licensed(...)` declaration: a bug, refused until fixed."""


def features_for(routes: Sequence[BaseRoute], scope: Scope) -> tuple[str, ...]:
    """The features the request uses; raises UndeclaredRoute for a route that declares none. A path
    no route serves uses none (the 404 still needs a valid license)."""
    route = route_for(routes, scope)
    if route is None:
        return ()
    features = declared_features(route)
    if features is None:  # () is a declaration too: any valid license, no feature
        path = getattr(route, "path", scope["path"])
        raise UndeclaredRoute(
            f"the route {path} declares no license feature, so it is refused; this is a bug in the "
            "appliance, please report it",
            extra={"license_code": "undeclared_route"},
        )
    return features


def _seconds_to_utc_midnight() -> int:
    now = time.gmtime()
    midnight = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, 0, 0, 0)) + 86400
    return max(1, int(midnight - time.time()))


def check(client: LicenseClient, features: tuple[str, ...]) -> None:
    """Raise the error that refuses this request, or return when it may be served."""
    view: LicenseStatus | None = client.status
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


class LicenseMiddleware(ApiMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:  # before the mode: an undeclared route is refused even with licensing disabled
            features = features_for(scope["app"].router.routes, scope)
        except UndeclaredRoute as exc:
            log.error("route refused: no license declaration", extra={"fields": {"path": scope["path"]}})
            await refuse(exc, scope, receive, send)
            return
        client: LicenseClient | None = getattr(scope["app"].state, "license", None)
        if client is None:  # the lifespan has not made the client: fail closed, visibly
            await refuse(UpstreamUnavailable("license client not started"), scope, receive, send)
            return
        if client.mode == "disabled":  # explicit operator choice; /health says "unlicensed"
            await self.app(scope, receive, send)
            return
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
            if kind == "http.response.start" and not counted and is_streamed(message):
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
            if counted and kind == "http.response.body" and not message.get("more_body", False):
                # The last bytes are on their way: free the stream now, so a client that starts its
                # next stream as soon as this one ends is not refused by its own finished one.
                client.active_streams -= 1
                counted = False
            await send(message)

        try:
            try:
                check(client, features)
                if ws_stream:
                    check_streams(client)
            except ApplianceError as exc:
                refused(exc)
                await refuse(exc, scope, receive, send_tracking)
                status = exc.status_code  # also where the refusal is a close after an accept
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
            client.report(usage_record(scope, features, status or 500, started, served))


class _StreamRefused(Exception):
    """Raised into the route from `send` to stop a streamed response refused by the quota. No error
    handler matches it, so it reaches the middleware unhandled, closing the body generator."""
