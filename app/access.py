"""API keys and per-key rate limits, as pure ASGI middleware (safe for streaming and WebSockets)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs

from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import OverQuota, Unauthorized, refuse

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/health/live", "/"})
OPEN_PREFIXES = ("/playground/",)  # the playground's static files; the API it calls needs the key


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def load_key_digests(keys: str, keys_file: str) -> list[bytes]:
    """SHA-256 digests of every configured key; plain keys are not kept."""
    entries = [k.strip() for k in keys.split(",") if k.strip()]
    if keys_file:
        entries += [line.strip() for line in Path(keys_file).read_text().splitlines() if line.strip()]
    digests = []
    for entry in entries:
        if entry.startswith("#"):
            continue
        if entry.startswith("sha256:"):
            digests.append(bytes.fromhex(entry.removeprefix("sha256:")))
        else:
            digests.append(_digest(entry))
    return digests


def presented_key(scope: Scope) -> str | None:
    """The key from `Authorization: Bearer|Token …`, `X-API-Key`, `xi-api-key` (ElevenLabs style,
    what the Svara SDK sends), or (WebSockets) `?api_key=`."""
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    for name in (b"x-api-key", b"xi-api-key"):
        if name in headers:
            return headers[name].decode("latin-1").strip()
    if scope["type"] == "websocket":
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
        if values:
            return values[0]
    return None


def matches(key: str, digests: Iterable[bytes]) -> bytes | None:
    candidate = _digest(key)
    found = None
    for digest in digests:  # compare against every digest: the time does not tell which one matched
        if hmac.compare_digest(candidate, digest):
            found = digest
    return found


class AccessMiddleware:
    """Rejects requests without a valid key (when keys are configured) and over the rate limit."""

    def __init__(
        self, app: ASGIApp, *, digests: list[bytes], metrics_open: bool, rate_limit_per_minute: int
    ) -> None:
        self.app = app
        self.digests = digests
        self.open_paths = OPEN_PATHS | ({"/metrics"} if metrics_open else set())
        self.rate_limit = rate_limit_per_minute
        self._redis_warned_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or path in self.open_paths or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        identity = f"ip:{client[0]}"
        if self.digests:
            key = presented_key(scope)
            digest = matches(key, self.digests) if key else None
            if digest is None:
                message = "missing API key" if key is None else "invalid API key"
                await refuse(Unauthorized(
                    f"{message}: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                ), scope, receive, send)
                return
            identity = f"key:{digest.hex()[:12]}"
        scope.setdefault("state", {})["client_identity"] = identity
        if self.rate_limit > 0:
            retry_after = await self._over_limit(scope, identity)
            if retry_after is not None:
                await refuse(OverQuota(
                    f"rate limit of {self.rate_limit} requests per minute reached",
                    headers={"Retry-After": str(retry_after)},
                ), scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _over_limit(self, scope: Scope, identity: str) -> int | None:
        """Fixed one-minute windows counted in Redis; with Redis down the limit is not enforced."""
        redis: Redis | None = getattr(scope["app"].state, "redis", None)
        if redis is None:
            return None
        now = time.time()
        window = int(now // 60)
        key = f"ratelimit:{identity}:{window}"
        try:
            pipe = redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, 90)
            count, _ = await pipe.execute()
        except Exception as exc:  # degraded mode: serve without shared limits, say so now and then
            if now - self._redis_warned_at > 60:
                self._redis_warned_at = now
                log.warning("rate limits not enforced: redis unavailable", extra={"fields": {"error": str(exc)}})
            return None
        if int(count) > self.rate_limit:
            return max(1, int((window + 1) * 60 - now))
        return None
