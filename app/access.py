"""API keys and who a request comes from, and the per-key rate limit, as pure ASGI middleware (safe for
streaming and WebSockets).

Every API request is given its `Caller` (in the ASGI state, `scope["state"]["caller"]`): an identity
that never holds the key (`key:<key id>`, the first 12 hex digits of the key's SHA-256, or, with no
keys configured, `ip:<client address>`) and the limits that apply to it, the defaults
(KEY_MAX_CONCURRENT, RATE_LIMIT_PER_MINUTE) or the key's own (API_KEY_LIMITS). The rate limit is
counted here; concurrency is admitted in app.sessions.admission."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from common.internal_auth import authorization_credential

from .errors import OverQuota, Unauthorized, refuse
from .settings import KeyLimits

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/health/live", "/"})
OPEN_PREFIXES = ("/playground/",)  # the playground's static files; the API it calls needs the key


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_id(digest: bytes) -> str:
    """How a key is named in settings and records: never the key, and not enough to find it."""
    return digest.hex()[:12]


@dataclass(frozen=True)
class Caller:
    identity: str  # key:<key id>, or ip:<address> when no keys are configured
    key_id: str | None  # None: the API is open
    max_concurrent: int  # 0: no limit
    requests_per_minute: int  # 0: no limit


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
    credential = authorization_credential(scope, ("bearer", "token"))
    if credential is not None:
        return credential
    headers = dict(scope.get("headers") or [])
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
        self,
        app: ASGIApp,
        *,
        digests: list[bytes],
        metrics_open: bool,
        defaults: KeyLimits,
        per_key: Mapping[str, KeyLimits],
    ) -> None:
        self.app = app
        self.digests = digests
        self.open_paths = OPEN_PATHS | ({"/metrics"} if metrics_open else set())
        self.defaults = defaults
        self.per_key = per_key
        self._redis_warned_at = 0.0

    def caller(self, identity: str, key: str | None) -> Caller:
        own = self.per_key.get(key or "")
        limits = self.defaults.model_copy(update=own.model_dump(exclude_none=True)) if own else self.defaults
        return Caller(identity, key, limits.max_concurrent or 0, limits.requests_per_minute or 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or path in self.open_paths or path.startswith(OPEN_PREFIXES):
            if scope["type"] == "http" and (digest := self._valid_key(scope)):  # /health shows it more
                scope.setdefault("state", {})["caller"] = self.caller(f"key:{key_id(digest)}", key_id(digest))
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        caller = self.caller(f"ip:{client[0]}", None)
        if self.digests:
            key = presented_key(scope)
            digest = self._valid_key(scope)
            if digest is None:
                message = "missing API key" if key is None else "invalid API key"
                await refuse(Unauthorized(
                    f"{message}: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                ), scope, receive, send)
                return
            caller = self.caller(f"key:{key_id(digest)}", key_id(digest))
        scope.setdefault("state", {})["caller"] = caller
        if caller.requests_per_minute > 0:
            retry_after = await self._over_limit(scope, caller.identity, caller.requests_per_minute)
            if retry_after is not None:
                await refuse(OverQuota(
                    f"rate limit of {caller.requests_per_minute} requests per minute reached",
                    headers={"Retry-After": str(retry_after)},
                ), scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _valid_key(self, scope: Scope) -> bytes | None:
        key = presented_key(scope) if self.digests else None
        return matches(key, self.digests) if key else None

    async def _over_limit(self, scope: Scope, identity: str, limit: int) -> int | None:
        """Fixed one-minute windows counted in Redis; with Redis down the limit is not enforced."""
        redis: Redis | None = getattr(scope["app"].state, "redis", None)
        components = getattr(scope["app"].state, "components", None)
        if redis is None or (components is not None and not components.is_ready("redis")):
            return None  # known down: not tried, so requests are not slowed by it
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
        if int(count) > limit:
            return max(1, int((window + 1) * 60 - now))
        return None
