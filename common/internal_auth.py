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

from common.logging import Throttle
from common.ws_errors import POLICY_VIOLATION, error_body

log = logging.getLogger(__name__)

REFUSAL_LOG_INTERVAL_S = 10.0  # a flood of refused calls writes one line per interval, with a count
# (both sides: the service refusing, and the gateway refused)


def bearer(token: str) -> dict[str, str]:
    """The headers a client of an internal service sends (none when no token is configured)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def authorization_credential(scope: Scope, schemes: Iterable[str]) -> str | None:
    """The credential of the request's `Authorization: <scheme> <credential>` header, when its scheme
    is one of `schemes` (lower case) and the credential is not empty."""
    authorization = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, value = authorization.partition(" ")
    return (value.strip() or None) if scheme.lower() in schemes else None


class InternalTokenMiddleware:
    """Refuses HTTP requests and WebSocket handshakes (401, JSON error) that do not carry the token,
    and logs the refusals (never what was presented), so an INTERNAL_TOKEN that differs between two
    processes shows in the logs. An empty token checks nothing, and says so once."""

    def __init__(self, app: ASGIApp, *, token: str, service: str, open_paths: Iterable[str]) -> None:
        self.app = app
        self.service = service
        self.open_paths = frozenset(open_paths)
        self._digest = hashlib.sha256(token.encode()).digest() if token else None
        self._refusals = Throttle(REFUSAL_LOG_INTERVAL_S)
        if not token:
            log.warning(
                "INTERNAL_TOKEN is not set: this service serves anyone who reaches its port",
                extra={"fields": {"service": service}},
            )

    def _presented(self, scope: Scope) -> bool:
        assert self._digest is not None
        credential = authorization_credential(scope, ("bearer",))
        digest = hashlib.sha256((credential or "").encode()).digest()
        return credential is not None and hmac.compare_digest(digest, self._digest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._digest is None
            or scope["type"] not in ("http", "websocket")
            or scope["path"] in self.open_paths
            or self._presented(scope)
        ):
            await self.app(scope, receive, send)
            return
        self._log_refusal(scope)
        body = error_body(
            "this internal API needs the internal token (Authorization: Bearer <INTERNAL_TOKEN>)",
            code="unauthorized",
            error_type="authentication_error",
        )
        start = {"status": 401, "headers": [(b"content-type", b"application/json")]}
        if scope["type"] == "http":
            await send({"type": "http.response.start", **start})
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})
            return
        await receive()  # websocket.connect
        # A denial response (uvicorn supports it) tells the gateway "401: the token" apart from the
        # 403 of a full worker; elsewhere a close before the handshake is all there is.
        if "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", **start})
            await send({"type": "websocket.http.response.body", "body": json.dumps(body).encode()})
        else:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})

    def _log_refusal(self, scope: Scope) -> None:
        refused = self._refusals.count()
        if refused is None:
            return
        presented = b"authorization" in dict(scope.get("headers") or [])
        client = scope.get("client") or ("?", 0)
        log.warning(
            "refused a call without the internal token: a caller that should have it (the gateway) "
            "needs the same INTERNAL_TOKEN as this service",
            extra={
                "fields": {
                    "service": self.service,
                    "path": scope["path"],
                    "client": client[0],
                    "presented": "another value" if presented else "nothing",
                    "refused": refused,
                }
            },
        )
