"""Prometheus metrics of the gateway (one registry, the default one) and the middleware that counts requests.

Engines in-process (tts_engine) define their own metrics in the same default registry, so /metrics
shows them too.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("app.access")
REQUESTS = Counter("gateway_requests_total", "Requests by route template, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram(
    "gateway_request_duration_seconds",
    "Time from request to the end of the response (whole stream for streaming responses).",
    ["route", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ACTIVE_STREAMS = Gauge("gateway_active_streams", "Open streaming responses and WebSocket sessions.", ["kind"])
COMPONENT_READY = Gauge("gateway_component_ready", "1 when the component is ready, else 0.", ["component"])
MONITOR_RESTARTS = Gauge("health_monitor_restarts", "Hung programs the health monitor restarted.", ["program"])
TTS_FIRST_AUDIO = Histogram(
    "tts_time_to_first_audio_seconds",
    "From the start of synthesis to the first encoded audio bytes.",
    ["backend"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10),
)
TTS_RTF = Histogram(
    "tts_real_time_factor",
    "Synthesis time divided by the audio duration of a completed TTS request (below 1: faster than real time).",
    ["backend"],
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5),
)
ASR_QUEUE = Gauge("asr_queue_jobs", "Batch transcription jobs in the Redis queue, by state.", ["state"])
LICENSE_VALID = Gauge("license_valid", "1 when the license is valid (or LICENSE_MODE=disabled), else 0.")
LICENSE_GRACE = Gauge("license_grace_remaining_seconds", "Offline grace left while the license server is unreachable.")


def route_template(scope: Scope) -> str:
    """The matched route's template (bounded label values), not the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware:
    """Request counts, latency, active streams, and the access-log line, measured once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "0"
        method = scope.get("method", "WS")
        stream_kind: str | None = None  # set while this request counts in gateway_active_streams

        async def record_status(message: Message) -> None:
            nonlocal status, stream_kind
            if message["type"] == "http.response.start":
                status = str(message["status"])
                # No Content-Length: a chunked (streamed) response, open until its body ends.
                if not any(k.lower() == b"content-length" for k, _ in message.get("headers", [])):
                    stream_kind = "http"
                    ACTIVE_STREAMS.labels(stream_kind).inc()
            elif message["type"] == "websocket.accept":
                status = "101"
                stream_kind = "websocket"
                ACTIVE_STREAMS.labels(stream_kind).inc()
            elif message["type"] == "websocket.http.response.start":
                status = str(message["status"])  # a handshake refused with the HTTP error (app.ws_errors)
            elif message["type"] == "websocket.close" and status == "0":
                status = "403"  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            status = "500"
            raise
        finally:
            if stream_kind is not None:
                ACTIVE_STREAMS.labels(stream_kind).dec()
            route = route_template(scope)
            elapsed = time.perf_counter() - started
            REQUESTS.labels(route, method, status).inc()
            LATENCY.labels(route, method).observe(elapsed)
            # The one access-log line (inside RequestIdMiddleware, so it carries the request id).
            # Route template only, never the path's values, query string or body: they may carry text.
            access_log.info(
                "request",
                extra={"fields": {
                    "method": method, "route": route, "status": int(status), "ms": round(elapsed * 1000, 1)
                }},
            )
