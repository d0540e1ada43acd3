"""Consumer-group plumbing shared by the job and callback loops: group creation, keeping a message
claimed while it is worked on, and reclaiming messages whose consumer died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from common.aio import cancel_and_wait

log = logging.getLogger(__name__)

Message = tuple[bytes, dict[bytes, bytes]]


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # the group exists already: fine
            raise


@contextlib.asynccontextmanager
async def kept_claimed(
    redis: aioredis.Redis, stream: str, group: str, consumer: str, msg_id: bytes, idle_s: float
) -> AsyncIterator[None]:
    """While the body runs, re-claim the message regularly so its idle time stays below the
    reclaim threshold: a long job on a live worker must not be taken over by another worker."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(max(idle_s / 3, 0.2))
            try:
                await redis.xclaim(stream, group, consumer, 0, [msg_id], justid=True)
            except Exception as exc:  # Redis blip: the next beat tries again
                log.warning("heartbeat failed", extra={"fields": {"error": type(exc).__name__}})

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        await cancel_and_wait([task])


async def next_messages(
    redis: aioredis.Redis, stream: str, group: str, consumer: str, idle_s: float, block_ms: int
) -> list[tuple[Message, bool]]:
    """Messages to work on: first any left behind by a dead consumer, else new ones.
    Each comes with `claimed` (True when it was taken over from another consumer)."""
    # XAUTOCLAIM scans a page of the pending list per call (ten entries per message asked for) and
    # answers where to go on: with many workers, the jobs in progress fill the first pages, and a
    # dead worker's job further on must still be found, so every page is visited.
    cursor: bytes | str = "0-0"
    while True:
        page = await redis.xautoclaim(stream, group, consumer, int(idle_s * 1000), start_id=cursor, count=1)
        # [next-id, messages, deleted-ids]; deleted entries come back as None fields.
        stale = [m for m in page[1] if m[1]]
        if stale:
            return [(m, True) for m in stale]
        cursor = page[0]
        if cursor in (b"0-0", "0-0"):
            break
    # Without decode_responses the client returns bytes; its stubs cannot know that.
    fresh = cast(
        list[tuple[bytes, list[Message]]],
        await redis.xreadgroup(group, consumer, {stream: ">"}, count=1, block=block_ms),
    )
    return [(m, False) for _, messages in fresh or [] for m in messages]


async def delivery_count(redis: aioredis.Redis, stream: str, group: str, msg_id: bytes) -> int:
    rows = await redis.xpending_range(stream, group, min=msg_id, max=msg_id, count=1)
    return int(rows[0]["times_delivered"]) if rows else 0
