"""This worker's entry in the Redis worker registry (common/asr_registry.py): a heartbeat while it
runs, a fresh record whenever a streaming session opens or closes, and withdrawal on a clean stop."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common import asr_registry as reg

from .settings import AsrSettings

log = logging.getLogger(__name__)


def advertise_url(settings: AsrSettings) -> str:
    """The URL gateways reach this worker at: ASR_ADVERTISE_URL, else the bind address (this
    host's address when bound to all interfaces)."""
    if settings.asr_advertise_url:
        return settings.asr_advertise_url.rstrip("/")
    host = settings.asr_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostbyname(socket.gethostname())
    return f"http://{host}:{settings.asr_port}"


class Registration:
    def __init__(self, redis: aioredis.Redis, settings: AsrSettings, worker_id: str) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.url = advertise_url(settings)
        self.capacity = settings.asr_max_sessions
        self.interval_s = settings.asr_heartbeat_s
        self.enabled = settings.asr_discovery == "registry"
        self.sessions = 0
        self.ready = False

    @property
    def full(self) -> bool:
        return self.sessions >= self.capacity

    def record(self) -> reg.WorkerRecord:
        return reg.WorkerRecord(
            worker_id=self.worker_id, url=self.url, capacity=self.capacity, sessions=self.sessions,
            ready=self.ready, heartbeat=time.time(),
        )

    async def publish(self) -> None:
        if not self.enabled:
            return
        # Three missed heartbeats and the record is gone: a killed worker drops out on its own.
        ttl_ms = int(self.interval_s * 3000)
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(reg.record_key(self.worker_id), self.record().dumps(), px=ttl_ms)
            pipe.sadd(reg.WORKERS, self.worker_id)
            await pipe.execute()
        except (RedisError, OSError) as exc:  # the next heartbeat tries again
            log.warning("registry heartbeat failed", extra={"fields": {"error": type(exc).__name__}})

    async def session_opened(self) -> None:
        self.sessions += 1
        await self.publish()

    async def session_closed(self) -> None:
        self.sessions -= 1
        await self.publish()

    async def run(self) -> None:
        if self.enabled:
            log.info("registering for streaming", extra={"fields": {"url": self.url, "capacity": self.capacity}})
        while self.enabled:
            await self.publish()
            await asyncio.sleep(self.interval_s)

    async def withdraw(self) -> None:
        """Clean stop: leave at once so that no gateway picks a worker that is going away."""
        if not self.enabled:
            return
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(reg.record_key(self.worker_id))
            pipe.srem(reg.WORKERS, self.worker_id)
            await pipe.execute()
        except (RedisError, OSError):
            pass  # the record expires by itself
