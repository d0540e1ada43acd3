"""The gateway's choice of ASR worker for a streaming session (ASR_DISCOVERY=registry): least loaded
ready worker first, a worker that cannot be reached skipped for the next, expired records dropped,
no usable worker a 503. Records are written into real Redis as workers write them; the worker that
answers is the session's real worker process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.clients.asr import AsrClient
from app.components import ComponentRegistry
from app.errors import UpstreamUnavailable
from common import asr_registry as reg
from common.asr_stream import StreamOptions
from common.states import ComponentState
from tests.support import free_port, own_database, until
from tests.support.asr import Worker


def record(worker_id: str, url: str, *, sessions: int = 0, capacity: int = 4, ready: bool = True) -> reg.WorkerRecord:
    return reg.WorkerRecord(worker_id, url, capacity, sessions, ready, time.time())


def test_by_load_orders_ready_workers_with_room() -> None:
    records = [
        record("busy", "http://a", sessions=3),
        record("full", "http://b", sessions=4),
        record("loading", "http://c", ready=False),
        record("idle", "http://d", sessions=0),
        record("half", "http://e", sessions=4, capacity=8),
    ]
    assert [r.worker_id for r in reg.by_load(records)] == ["idle", "half", "busy"]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[tuple[AsrClient, aioredis.Redis]]:
    redis = aioredis.from_url(own_database(redis_url))
    await redis.flushdb()
    components = ComponentRegistry(probe_timeout_s=2, retry_after_s=1)
    components.add("redis", None)
    asr = AsrClient(
        redis, components, worker_url="http://unused", result_ttl_s=60, max_queued=10, retry_after_s=1,
        discovery="registry",
    )
    yield asr, redis
    await asr.aclose()
    await redis.flushdb()
    await redis.aclose()


async def _expired(redis: aioredis.Redis, worker_id: str) -> bool:
    return not await redis.exists(reg.record_key(worker_id))


async def publish(redis: aioredis.Redis, rec: reg.WorkerRecord, ttl_ms: int = 10_000) -> None:
    await redis.set(reg.record_key(rec.worker_id), rec.dumps(), px=ttl_ms)
    await redis.sadd(reg.WORKERS, rec.worker_id)


async def test_unreachable_worker_is_skipped_for_the_next(
    client: tuple[AsrClient, aioredis.Redis], asr_worker: Worker
) -> None:
    asr, redis = client
    # The dead one looks idler, so it is tried first; its port refuses and the real worker gets the session.
    await publish(redis, record("dead", f"http://127.0.0.1:{free_port()}", sessions=0))
    await publish(redis, record("real", asr_worker.url, sessions=2))
    upstream = await asr.open_stream(StreamOptions())
    try:
        assert not upstream.closed
    finally:
        await upstream.close()
    assert (await asr.probe()).state is ComponentState.READY


async def test_expired_records_drop_out_and_no_worker_is_a_503(client: tuple[AsrClient, aioredis.Redis]) -> None:
    asr, redis = client
    await publish(redis, record("gone", "http://127.0.0.1:1"), ttl_ms=1)
    await until(lambda: _expired(redis, "gone"), 5, "the record to expire")
    assert await asr.workers() == []
    assert not await redis.sismember(reg.WORKERS, "gone")
    with pytest.raises(UpstreamUnavailable, match="no ASR worker has a free streaming slot"):
        await asr.open_stream(StreamOptions())
    probe = await asr.probe()
    assert probe.state is ComponentState.STARTING and "no ready ASR worker" in probe.detail["error"]
