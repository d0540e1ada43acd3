"""The engine limiter admits, queues and refuses as configured, and frees slots on every exit path."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import UpstreamUnavailable
from app.sessions.admission import EngineLimiter
from tests.support import until


def _limiter(**overrides: float) -> EngineLimiter:
    params = {"max_active": 2, "max_waiting": 1, "max_wait_s": 0.5, "retry_after_s": 3, **overrides}
    return EngineLimiter("tts", **params)  # type: ignore[arg-type]


async def test_queue_full_is_refused_at_once_with_retry_after() -> None:
    limiter = _limiter()
    await limiter.acquire()
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await until(lambda: limiter.waiting == 1, 5, "the request to queue")
    with pytest.raises(UpstreamUnavailable) as refused:
        await limiter.acquire()  # two running, one waiting: no room
    assert refused.value.headers["Retry-After"] == "3"
    assert "queue full" in refused.value.message
    limiter.release()
    await asyncio.wait_for(waiter, 1)  # the queued request got the freed slot


async def test_waiting_too_long_is_refused() -> None:
    limiter = _limiter(max_active=1, max_wait_s=0.05)
    await limiter.acquire()
    with pytest.raises(UpstreamUnavailable, match="waited"):
        await limiter.acquire()


async def test_slot_is_released_when_the_work_fails() -> None:
    limiter = _limiter(max_active=1, max_waiting=0)
    with pytest.raises(RuntimeError):
        async with limiter.slot():
            raise RuntimeError("engine failed")
    async with limiter.slot():  # would be refused if the slot had leaked
        pass
