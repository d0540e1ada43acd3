"""The shared internal token: the gateway presents it to the ASR workers and the license proxy
(`Authorization: Bearer <INTERNAL_TOKEN>`), and they refuse anyone who does not. Loopback and
NetworkPolicies already keep strangers out; the token is the second lock, for a cluster where some
other pod can reach a worker's port (a worker hands every session's transcript to whoever opens it).

Health endpoints stay open: probes and the health monitor carry no token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from common.ws_errors import POLICY_VIOLATION, error_body

log = logging.getLogger(__name__)


def bearer(token: str) -> dict[str, str]:
    """The headers a client of an internal service sends (none when no token is configured)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class InternalTokenMiddleware:
    """Refuses HTTP requests (401, JSON error) and WebSocket handshakes (closed with 1008 before they
    are accepted) that do not carry the token. An empty token checks nothing, and says so once."""

    def __init__(self, app: ASGIApp, *, token: str, service: str, open_paths: Iterable[str]) -> None:
        self.app = app
        self.open_paths = frozenset(open_paths)
        self._digest = hashlib.sha256(token.encode()).digest() if token else None
        if not token:
            log.warning(
                "INTERNAL_TOKEN is not set: this service serves anyone who reaches its port",
                extra={"fields": {"service": service}},
            )

    def _presented(self, scope: Scope) -> bool:
        assert self._digest is not None
        authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = authorization.partition(" ")
        digest = hashlib.sha256(value.strip().encode()).digest()
        return scheme.lower() == "bearer" and hmac.compare_digest(digest, self._digest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._digest is None
            or scope["type"] not in ("http", "websocket")
            or scope["path"] in self.open_paths
            or self._presented(scope)
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})
            return
        body = error_body(
            "this internal API needs the internal token", code="unauthorized", error_type="authentication_error"
        )
        await send(
            {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
