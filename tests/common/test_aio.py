"""cancel_and_wait against the real Redis client: a task looping on Redis commands ends when
cancelled, even where Python 3.11's asyncio.wait_for (inside redis-py) swallows the cancellation."""

from __future__ import annotations

import asyncio
import random

import redis.asyncio as aioredis

from common.aio import cancel_and_wait
from tests.support import own_database


async def test_a_task_busy_with_redis_commands_ends_when_cancelled(redis_url: str) -> None:
    redis = aioredis.from_url(own_database(redis_url))  # redis-py's default socket timeout: wait_for
    random.seed(7)
    stop = False  # ends the loop should the test fail, so that the failure is a message, not a hang

    async def heartbeat() -> None:
        while not stop:  # no sleep: a cancellation lands inside a command
            await redis.ping()

    try:
        for round_ in range(10):
            task = asyncio.create_task(heartbeat())
            await asyncio.sleep(random.uniform(0, 0.002))
            waiting = asyncio.create_task(cancel_and_wait([task]))
            await asyncio.wait({waiting}, timeout=5)  # before the fix, most rounds waited forever
            assert waiting.done(), f"round {round_}: the cancelled task still runs"
            assert task.cancelled()
    finally:
        stop = True
        await redis.aclose()
