"""Client of the ASR workers: batch jobs through Redis, streaming sessions over a WebSocket.

Streaming sessions go to the one worker at ASR_HOST:ASR_PORT (discovery "fixed"), or, with
discovery "registry", to the least-loaded ready worker of the Redis registry (common/asr_registry.py);
a worker that refuses or cannot be reached is skipped for the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.components import ComponentRegistry, ProbeResult
from app.errors import UpstreamTimeout, UpstreamUnavailable
from common import asr_jobs as q
from common import asr_registry as reg
from common import asr_stream
from common.asr_stream import StreamOptions
from common.internal_auth import bearer
from common.states import ComponentState

T = TypeVar("T")
log = logging.getLogger(__name__)


class AsrClient:
    def __init__(
        self,
        redis: aioredis.Redis,
        components: ComponentRegistry,
        *,
        worker_url: str,
        result_ttl_s: int,
        max_queued: int,
        retry_after_s: int,
        discovery: str = "fixed",
        internal_token: str = "",
    ) -> None:
        self.redis = redis
        self.components = components
        self.worker_ws_url = _ws(worker_url)
        self.discovery = discovery
        self.result_ttl_s = result_ttl_s
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s
        self._headers = bearer(internal_token)  # the workers' streaming API wants the internal token
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _redis(self, call: Callable[[], Awaitable[T]]) -> T:
        """Redis failures become a 503 at once (and mark Redis down), never a hang."""
        try:
            return await call()
        except (RedisError, OSError) as exc:
            self.components.mark_down("redis", type(exc).__name__)
            raise UpstreamUnavailable(
                "the job queue (Redis) is unavailable; retry shortly", retry_after_s=self.retry_after_s
            ) from None

    # --- batch ---------------------------------------------------------------------------------
    async def enqueue(self, job: q.Job, pcm: bytes) -> None:
        queued = await self._redis(lambda: self.redis.xlen(q.STREAM))
        if queued >= self.max_queued:
            raise UpstreamUnavailable(
                f"{queued} transcription jobs are waiting; retry later", retry_after_s=self.retry_after_s
            )

        async def write() -> None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(q.audio_key(job.job_id), pcm, ex=self.result_ttl_s)
            pipe.set(
                q.meta_key(job.job_id),
                q.dumps({"status": "queued", "created": time.time()}),
                ex=self.result_ttl_s,
            )
            pipe.xadd(q.STREAM, job.to_fields())  # type: ignore[arg-type]
            await pipe.execute()

        await self._redis(write)

    async def wait(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """Wait for a job's result: BLPOP on its notification list, in short steps so that a lost
        notification or a Redis blip costs at most one step."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = await self.result(job_id)
            if result is not None:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamTimeout(
                    f"the transcription did not finish within {timeout_s:.0f} s; "
                    f"its result will be at GET /v1/listen/{job_id}"
                )
            await self._redis(lambda: self.redis.blpop([q.done_key(job_id)], timeout=1))

    async def result(self, job_id: str) -> dict[str, Any] | None:
        return q.loads(await self._redis(lambda: self.redis.get(q.result_key(job_id))))

    async def status(self, job_id: str) -> dict[str, Any] | None:
        """The result when there is one, else the job's state (queued / processing), else None."""
        result = await self.result(job_id)
        if result is not None:
            return result
        return q.loads(await self._redis(lambda: self.redis.get(q.meta_key(job_id))))

    # --- worker registry -------------------------------------------------------------------------
    async def workers(self) -> list[reg.WorkerRecord]:
        """Live records of the registry; ids whose record expired (the worker died) are dropped."""
        members = await self._redis(lambda: self.redis.smembers(reg.WORKERS))
        ids = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
        if not ids:
            return []
        raws = await self._redis(lambda: self.redis.mget([reg.record_key(i) for i in ids]))
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:
            await self._redis(lambda: self.redis.srem(reg.WORKERS, *gone))
        return [reg.WorkerRecord.loads(raw) for raw in raws if raw is not None]

    async def probe(self) -> ProbeResult:
        """Readiness of "asr" with discovery "registry": at least one ready worker is registered."""
        records = await self.workers()
        ready = [r for r in records if r.ready]
        detail = {
            "workers": len(records),
            "ready_workers": len(ready),
            "sessions": sum(r.sessions for r in ready),
            "capacity": sum(r.capacity for r in ready),
        }
        if ready:
            return ProbeResult(ComponentState.READY, detail)
        return ProbeResult(ComponentState.STARTING, {**detail, "error": "no ready ASR worker is registered"})

    # --- streaming -----------------------------------------------------------------------------
    async def open_stream(self, options: StreamOptions) -> aiohttp.ClientWebSocketResponse:
        params = options.to_query()
        if self.discovery == "fixed":
            upstream = await self._connect(self.worker_ws_url, params)
            if upstream is None:
                self.components.mark_down("asr", "unreachable")
                raise UpstreamUnavailable(
                    "the ASR worker is not reachable; retry shortly", retry_after_s=self.retry_after_s
                )
            return upstream
        for worker in reg.by_load(await self.workers()):
            upstream = await self._connect(_ws(worker.url), params)
            if upstream is not None:
                return upstream
            log.warning("ASR worker refused a session", extra={"fields": {"worker": worker.worker_id}})
        raise UpstreamUnavailable(
            "no ASR worker has a free streaming slot; retry shortly", retry_after_s=self.retry_after_s
        )

    async def _connect(self, ws_url: str, params: dict[str, str]) -> aiohttp.ClientWebSocketResponse | None:
        """A session on one worker, or None when it cannot be reached or is full."""
        if self._http is None:
            self._http = aiohttp.ClientSession(headers=self._headers)
        try:
            return await self._http.ws_connect(
                f"{ws_url}{asr_stream.PATH}",
                params=params,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
                heartbeat=None,
                max_msg_size=0,
            )
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None


def _ws(url: str) -> str:
    return url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
