"""Reclaiming a dead worker's job (asr_engine/claims.py), against the real Redis: found however many
jobs other workers have in progress ahead of it in the pending list."""

from __future__ import annotations

import redis.asyncio as aioredis

from asr_engine.claims import ensure_group, next_messages
from tests.support import own_database

STREAM, GROUP = "test:claims", "workers"


async def test_a_dead_workers_job_behind_a_page_of_busy_ones_is_claimed(redis_url: str) -> None:
    redis = aioredis.from_url(own_database(redis_url))
    try:
        await redis.delete(STREAM)
        await ensure_group(redis, STREAM, GROUP)
        dead_job = None
        for index in range(31):  # 30 jobs in progress on live workers, then the one a dead worker held
            msg_id = await redis.xadd(STREAM, {"job": str(index)})
            consumer = "dead" if index == 30 else f"live-{index}"
            await redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=1)
            if index == 30:
                dead_job = msg_id
        await redis.xclaim(STREAM, GROUP, "dead", 0, [dead_job], idle=60_000, justid=True)  # it died a minute ago

        # Older entries first in the pending list: XAUTOCLAIM's first page holds only busy jobs.
        first_page = await redis.xautoclaim(STREAM, GROUP, "new", 30_000, start_id="0-0", count=1)
        assert first_page[1] == [] and first_page[0] not in (b"0-0", "0-0")

        found = await next_messages(redis, STREAM, GROUP, "new", idle_s=30, block_ms=10)
        assert [(msg_id, claimed) for (msg_id, _), claimed in found] == [(dead_job, True)]
        # with nothing stale left, new work is read as before
        fresh_id = await redis.xadd(STREAM, {"job": "fresh"})
        found = await next_messages(redis, STREAM, GROUP, "new", idle_s=30, block_ms=10)
        assert [(msg_id, claimed) for (msg_id, _), claimed in found] == [(fresh_id, False)]
    finally:
        await redis.delete(STREAM)
        await redis.aclose()
