"""Prometheus metrics of the gateway (one registry, the default one) and the middleware that counts requests.

Engines in-process (tts_engine) define their own metrics in the same default registry, so /metrics
shows them too.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def route_template(scope: Scope) -> str:
    """The matched route's template (bounded label values), not the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "0"
        method = scope.get("method", "WS")

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "websocket.accept":
                status = "101"
            elif message["type"] == "websocket.close" and status == "0":
                status = "403"  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except Exception:
            status = "500"
            raise
        finally:
            route = route_template(scope)
            REQUESTS.labels(route, method, status).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)
