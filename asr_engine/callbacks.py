"""Delivering results to callback URLs, from a Redis Stream so that a delivery still owed survives a
worker restart (at least once; the receiver can dedupe by request_id).

Each POST connects only to an address checked against the callback policy, resolved once
(common/callback_guard.py: no DNS rebinding), and is signed with CALLBACK_SIGNING_SECRET
(common/callback_signature.py). Logs name the receiver without its query: it may hold a token.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import redis.asyncio as aioredis

from common import asr_jobs as q
from common import callback_signature
from common.callback_guard import (
    CallbackRefused,
    CallbackUnresolvable,
    CheckedResolver,
    Lookup,
    callback_policy,
    check_literal,
)
from common.logging import url_for_log

from .claims import ensure_group, kept_claimed, next_messages
from .settings import AsrSettings

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(
        self, settings: AsrSettings, redis: aioredis.Redis, consumer: str, lookup: Lookup | None = None
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.consumer = consumer
        self.policy = callback_policy(settings.callback_blocked_networks, settings.callback_allowed_networks)
        self._resolver = CheckedResolver(self.policy) if lookup is None else CheckedResolver(self.policy, lookup)
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        if not settings.callback_signing_secret:
            log.warning("CALLBACK_SIGNING_SECRET is not set: callback deliveries are not signed")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No DNS cache: every connection asks the checked resolver.
            connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False)
            timeout = aiohttp.ClientTimeout(total=self.settings.asr_callback_timeout_s)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

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
            await self.aclose()

    async def post(self, url: str, body: bytes, job_id: str) -> int:
        """One signed POST to a checked address; the HTTP status. Raises CallbackRefused (never
        retried), CallbackUnresolvable, aiohttp.ClientError or TimeoutError (retried)."""
        check_literal(url, self.policy)
        headers = {"content-type": "application/json", "x-request-id": job_id}
        if self.settings.callback_signing_secret:
            headers[callback_signature.HEADER] = callback_signature.sign(self.settings.callback_signing_secret, body)
        async with self._http().post(url, data=body, headers=headers, allow_redirects=False) as response:
            return response.status

    async def deliver(self, msg_id: bytes, fields: dict[bytes, bytes]) -> None:
        job_id = fields[b"job_id"].decode()
        url = fields[b"callback_url"].decode()
        target = url_for_log(url)
        stored = await self.redis.get(q.result_key(job_id))
        body = stored.encode() if isinstance(stored, str) else stored
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
                    status = await self.post(url, body, job_id)
                    if status < 300:
                        delivered = True
                        break
                    reason = f"HTTP {status}"
                except (aiohttp.ClientError, TimeoutError, CallbackUnresolvable) as exc:
                    reason = type(exc).__name__
                except CallbackRefused as exc:  # a refused address: retrying cannot help
                    log.warning(
                        "callback refused",
                        extra={"fields": {"job_id": job_id, "target": target, "reason": str(exc)}},
                    )
                    break
                log.warning(
                    "callback attempt failed",
                    extra={"fields": {"job_id": job_id, "target": target, "attempt": attempt, "reason": reason}},
                )
                if attempt < self.settings.asr_callback_attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        log.info("callback finished", extra={"fields": {"job_id": job_id, "delivered": delivered}})
        await self.redis.xack(q.CALLBACK_STREAM, q.CALLBACK_GROUP, msg_id)
        await self.redis.xdel(q.CALLBACK_STREAM, msg_id)
