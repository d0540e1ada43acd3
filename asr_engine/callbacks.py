"""Delivering results to callback URLs, from a Redis Stream so that a delivery still owed survives a
worker restart (at least once; the receiver can dedupe by request_id)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import redis.asyncio as aioredis

from common import asr_jobs as q
from common.callback_guard import CallbackRefused, CallbackUnresolvable, check_callback_url, parse_networks

from .claims import ensure_group, kept_claimed, next_messages
from .settings import AsrSettings

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(self, settings: AsrSettings, redis: aioredis.Redis, consumer: str) -> None:
        self.settings = settings
        self.redis = redis
        self.consumer = consumer
        self.http = httpx.AsyncClient(timeout=settings.asr_callback_timeout_s, follow_redirects=False)
        self._inflight: set[asyncio.Task[None]] = set()
        self._blocked = parse_networks(settings.callback_blocked_networks)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await ensure_group(self.redis, q.CALLBACK_STREAM, q.CALLBACK_GROUP)
                    while True:
                        batch = await next_messages(
                            self.redis,
                            q.CALLBACK_STREAM,
                            q.CALLBACK_GROUP,
                            self.consumer,
                            self.settings.asr_claim_idle_s,
                            1000,
                        )
                        for (msg_id, fields), _ in batch:
                            # One slow receiver must not hold up the others.
                            task = asyncio.create_task(self.deliver(msg_id, fields))
                            self._inflight.add(task)
                            task.add_done_callback(self._inflight.discard)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "callback loop error; retrying", extra={"fields": {"error": type(exc).__name__}}
                    )
                    await asyncio.sleep(1.0)
        finally:
            for task in list(self._inflight):
                task.cancel()
            await self.http.aclose()

    async def deliver(self, msg_id: bytes, fields: dict[bytes, bytes]) -> None:
        job_id = fields[b"job_id"].decode()
        url = fields[b"callback_url"].decode()
        body = await self.redis.get(q.result_key(job_id))
        delivered = False
        async with kept_claimed(
            self.redis,
            q.CALLBACK_STREAM,
            q.CALLBACK_GROUP,
            self.consumer,
            msg_id,
            self.settings.asr_claim_idle_s,
        ):
            delay = self.settings.asr_callback_backoff_s
            for attempt in range(1, self.settings.asr_callback_attempts + 1):
                if body is None:
                    break  # the result expired: nothing left to deliver
                try:
                    await check_callback_url(url, self._blocked)  # again: the name may resolve elsewhere now
                    response = await self.http.post(
                        url,
                        content=body,
                        headers={"content-type": "application/json", "x-request-id": job_id},
                    )
                    if response.status_code < 300:
                        delivered = True
                        break
                    reason = f"HTTP {response.status_code}"
                except (httpx.HTTPError, CallbackUnresolvable) as exc:
                    reason = type(exc).__name__
                except CallbackRefused as exc:  # a blocked address: retrying cannot help
                    log.warning("callback refused", extra={"fields": {"job_id": job_id, "reason": str(exc)}})
                    break
                log.warning(
                    "callback attempt failed",
                    extra={"fields": {"job_id": job_id, "attempt": attempt, "reason": reason}},
                )
                if attempt < self.settings.asr_callback_attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        log.info("callback finished", extra={"fields": {"job_id": job_id, "delivered": delivered}})
        await self.redis.xack(q.CALLBACK_STREAM, q.CALLBACK_GROUP, msg_id)
        await self.redis.xdel(q.CALLBACK_STREAM, msg_id)
