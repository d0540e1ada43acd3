"""Concurrency per caller, counted in real Redis (app.sessions.leases): the limit holds across
gateways (two Leases objects on one Redis are two replicas), a lease ends with its request, a replica
that keeps running keeps its leases, and one that crashed (stopped renewing) leaks nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.components import ComponentRegistry
from app.errors import OverQuota
from app.sessions.leases import Leases
from common.states import ComponentState
from tests.support import free_port, own_database, until

TTL_S = 1.0


@pytest.fixture
async def db(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(own_database(redis_url))
    yield client
    await client.aclose()


async def test_the_limit_is_shared_by_replicas_and_frees_when_a_request_ends(db: aioredis.Redis) -> None:
    one, two = Leases(db, retry_after_s=4, ttl_s=TTL_S), Leases(db, retry_after_s=4, ttl_s=TTL_S)
    caller = f"key:{uuid.uuid4().hex[:12]}"
    first = await one.take(caller, 2)
    await two.take(caller, 2)
    with pytest.raises(OverQuota) as refused:
        await two.take(caller, 2)  # the third, on either replica
    assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "4"
    assert "KEY_MAX_CONCURRENT" in refused.value.message
    assert await one.take("key:someoneelse", 2) is not None  # another caller has its own count
    assert first is not None
    await one.release(first)
    assert await two.take(caller, 2) is not None


async def test_a_running_replica_keeps_its_leases_and_a_crashed_one_leaks_nothing(db: aioredis.Redis) -> None:
    running, crashed, other = (Leases(db, retry_after_s=1, ttl_s=TTL_S) for _ in range(3))
    caller = f"key:{uuid.uuid4().hex[:12]}"
    renewing = asyncio.create_task(running.run())
    try:
        await running.take(caller, 2)
        await crashed.take(caller, 2)  # never renewed, never released: its process died
        await asyncio.sleep(TTL_S * 2.5)  # past the crashed one's expiry, not the running one's
        assert await other.take(caller, 2) is not None  # the crashed replica's lease has gone
        with pytest.raises(OverQuota):
            await other.take(caller, 2)  # the running replica's lease is still counted
    finally:
        renewing.cancel()

    async def expired() -> bool:  # and once nothing renews them, every lease goes
        try:
            lease = await other.take(caller, 1)
        except OverQuota:
            return False
        assert lease is not None
        await other.release(lease)
        return True

    await until(expired, TTL_S * 5, "the leases to expire")


async def test_with_redis_down_the_limit_is_not_enforced(caplog: pytest.LogCaptureFixture) -> None:
    down = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)  # nothing listens there
    components = ComponentRegistry(probe_timeout_s=1, retry_after_s=1)
    components.add("redis", lambda: down.ping())  # type: ignore[arg-type,return-value]
    components.get("redis").state = ComponentState.READY  # it was up a moment ago
    leases = Leases(down, components, retry_after_s=1)
    async with leases.held_for("key:abc", 1), leases.held_for("key:abc", 1):
        pass  # both served: degraded, not refused
    assert "not enforced" in caplog.text
    assert not components.is_ready("redis")  # the first failure marked it down: no further tries
    await down.aclose()
