"""Concurrency per caller (API key, or client address on an open API), counted in Redis so that every
gateway replica shares one count (KEY_MAX_CONCURRENT, or the key's own in API_KEY_LIMITS).

Each request or WebSocket session in progress holds a lease: a member of the caller's sorted set
`limits:leases:<identity>`, scored with the time it expires (Redis' own clock, so replicas' clocks do
not matter). A gateway renews its leases every LEASE_TTL_S / 3 and removes each when its request
ends; the leases of a replica that crashed expire within LEASE_TTL_S, so nothing leaks. Taking a
lease first drops the expired ones, then counts: one over the limit is refused before the request
starts (429 + Retry-After), never cut later.

With Redis down the limit is not enforced (as the rate limit): the gateway says so in its log now and
then, MAX_STREAM_SESSIONS and the engines' slots still bound each replica, and it recovers by itself.
While the health probes see Redis down, no lease is even tried, so requests are not slowed by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.components import ComponentRegistry
from app.errors import OverQuota

log = logging.getLogger(__name__)

LEASE_TTL_S = 30
PREFIX = "limits:leases:"

# KEYS[1] the caller's set; ARGV: limit, ttl, lease id. 1: taken, 0: the caller is at its limit.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""
# KEYS: sets, ARGV[1] ttl, then one lease id per set: each lease still held expires ttl from now.
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', t, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1])) + 1)
end
return #KEYS
"""


@dataclass(frozen=True)
class Lease:
    key: str
    member: str


class Leases:
    """What the lifespan keeps at `app.state.leases`; `run()` renews this gateway's leases."""

    def __init__(
        self, redis: Redis, components: ComponentRegistry | None = None, *, retry_after_s: int,
        ttl_s: float = LEASE_TTL_S,
    ) -> None:
        self.redis = redis
        self.components = components
        self.retry_after_s = retry_after_s
        self.ttl_s = ttl_s
        self.held: set[Lease] = set()
        self._warned_at = 0.0

    @contextlib.asynccontextmanager
    async def held_for(self, identity: str, limit: int) -> AsyncIterator[None]:
        """A lease for the duration of the block; OverQuota when `identity` holds `limit` already."""
        lease = await self.take(identity, limit)
        try:
            yield
        finally:
            if lease is not None:
                await self.release(lease)

    async def take(self, identity: str, limit: int) -> Lease | None:
        """A lease, or None when the limit is not enforced now (Redis down)."""
        lease = Lease(PREFIX + identity, uuid.uuid4().hex)
        if self.components is not None and not self.components.is_ready("redis"):
            self._degraded(None)
            return None
        try:
            taken = await self.redis.eval(_TAKE, 1, lease.key, limit, self.ttl_s, lease.member)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            self._degraded(exc)
            return None
        if not taken:
            raise OverQuota(
                f"this key already has {limit} requests or sessions in progress (its concurrency limit, "
                "KEY_MAX_CONCURRENT); retry when one has ended",
                headers={"Retry-After": str(self.retry_after_s)}, extra={"quota": "concurrent"},
            )
        self.held.add(lease)
        return lease

    async def release(self, lease: Lease) -> None:
        self.held.discard(lease)
        try:
            await self.redis.zrem(lease.key, lease.member)
        except (RedisError, OSError) as exc:  # it expires by itself
            self._degraded(exc)

    async def renew(self) -> None:
        leases = list(self.held)
        if leases:
            await self.redis.eval(  # type: ignore[misc]
                _RENEW, len(leases), *[lease.key for lease in leases], self.ttl_s, *[lease.member for lease in leases]
            )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                self._degraded(exc)

    def _degraded(self, exc: BaseException | None) -> None:
        if exc is not None and self.components is not None:
            self.components.mark_down("redis", type(exc).__name__)
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning(
                "concurrency limits per key not enforced: redis unavailable",
                extra={"fields": {"error": type(exc).__name__ if exc else "down"}},
            )
