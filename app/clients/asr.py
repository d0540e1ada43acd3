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
from redis.exceptions import OutOfMemoryError, RedisError

from app.components import ComponentRegistry, ProbeResult
from app.errors import UpstreamTimeout, UpstreamUnavailable
from common import asr_jobs as q
from common import asr_registry as reg
from common import asr_stream
from common.asr_stream import StreamOptions
from common.internal_auth import REFUSAL_LOG_INTERVAL_S, bearer
from common.logging import Throttle, url_for_log
from common.states import ComponentState

T = TypeVar("T")
log = logging.getLogger(__name__)

# Admission and the writes of one job, atomic across gateways. The queued audio is measured, not
# tracked: the sizes of the audio still stored for the jobs in QUEUED_AUDIO (an id whose audio was
# deleted by its worker, or expired, is dropped), so a crash anywhere cannot leave the count wrong.
# (It reads audio keys it is not given in KEYS: fine on one Redis, not on Redis Cluster.)
# KEYS: queued-audio set, job stream, audio, meta, owner.
# ARGV: max jobs, max audio bytes, audio key prefix, job id, pcm, ttl, meta, owner, owner ttl, job fields.
# Returns {0, used}: queued; {1, jobs}: too many jobs; {2, used}: no room for the audio.
_ENQUEUE = """
local jobs = redis.call('XLEN', KEYS[2])
if jobs >= tonumber(ARGV[1]) then return {1, jobs} end
local used = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local n = redis.call('STRLEN', ARGV[3] .. id)
  if n == 0 then redis.call('SREM', KEYS[1], id) else used = used + n end
end
if used + string.len(ARGV[5]) > tonumber(ARGV[2]) then return {2, used} end
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[6])
redis.call('SET', KEYS[4], ARGV[7], 'EX', ARGV[6])
redis.call('SET', KEYS[5], ARGV[8], 'EX', ARGV[9])
redis.call('SADD', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 10))
return {0, used}
"""


class WorkerRefusedToken(UpstreamUnavailable):
    """A worker answered 401: it wants another INTERNAL_TOKEN than the gateway's."""


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
        max_queued_audio_bytes: int = 1_000_000_000,
        discovery: str = "fixed",
        internal_token: str = "",
    ) -> None:
        self.redis = redis
        self.components = components
        self.worker_ws_url = _ws(worker_url)
        self.discovery = discovery
        self.result_ttl_s = result_ttl_s
        self.max_queued = max_queued
        self.max_queued_audio_bytes = max_queued_audio_bytes
        self.retry_after_s = retry_after_s
        self._headers = bearer(internal_token)  # the workers' streaming API wants the internal token
        self._token_refusals = Throttle(REFUSAL_LOG_INTERVAL_S)
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _redis(self, call: Callable[[], Awaitable[T]]) -> T:
        """Redis failures become a 503 at once (and mark Redis down), never a hang."""
        try:
            return await call()
        except OutOfMemoryError:  # at REDIS_MAXMEMORY (noeviction): full, not down
            raise self._full("Redis is at its memory limit (REDIS_MAXMEMORY)") from None
        except (RedisError, OSError) as exc:
            self.components.mark_down("redis", type(exc).__name__)
            raise UpstreamUnavailable(
                "the job queue (Redis) is unavailable; retry shortly", retry_after_s=self.retry_after_s
            ) from None

    # --- batch ---------------------------------------------------------------------------------
    async def enqueue(self, job: q.Job, pcm: bytes, owner: str = "") -> None:
        """Queue a job and its audio, unless the queue is at ASR_MAX_QUEUED_JOBS or its audio would
        pass ASR_QUEUED_AUDIO_MAX_BYTES (503 + Retry-After: accepted work is never displaced).
        `owner`: the key id that may read the result ("" on an open API)."""
        meta = q.dumps({"status": "queued", "created": time.time()})
        outcome, count = await self._redis(lambda: self.redis.eval(  # type: ignore[misc]
            _ENQUEUE, 5, q.QUEUED_AUDIO, q.STREAM, q.audio_key(job.job_id), q.meta_key(job.job_id),
            q.owner_key(job.job_id), self.max_queued, self.max_queued_audio_bytes, q.audio_key(""), job.job_id,
            pcm, self.result_ttl_s, meta, owner, 2 * self.result_ttl_s,  # the result outlives the audio's TTL
            *[part for item in job.to_fields().items() for part in item],
        ))
        if outcome == 1:
            raise self._full(f"{count} transcription jobs are waiting (ASR_MAX_QUEUED_JOBS)")
        if outcome == 2:
            raise self._full(
                f"the queued audio ({count} bytes) leaves no room for this job's {len(pcm)} "
                f"(ASR_QUEUED_AUDIO_MAX_BYTES, {self.max_queued_audio_bytes})"
            )

    def _full(self, why: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"the transcription queue is full: {why}; retry later", retry_after_s=self.retry_after_s
        )

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

    async def status(self, job_id: str, owner: str = "") -> dict[str, Any] | None:
        """The result when there is one, else the job's state (queued / processing), else None; None
        too for a job `owner` (a key id, "" on an open API) did not create."""
        created_by = await self._redis(lambda: self.redis.get(q.owner_key(job_id)))
        if created_by is None or (created_by.decode() if isinstance(created_by, bytes) else created_by) != owner:
            return None
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
        refused: WorkerRefusedToken | None = None
        for worker in reg.by_load(await self.workers()):
            try:
                upstream = await self._connect(_ws(worker.url), params)
            except WorkerRefusedToken as exc:  # misconfigured, that one: another may take the session
                refused = exc
                continue
            if upstream is not None:
                return upstream
            log.warning("ASR worker refused a session", extra={"fields": {"worker": worker.worker_id}})
        if refused is not None:
            raise refused
        raise UpstreamUnavailable(
            "no ASR worker has a free streaming slot; retry shortly", retry_after_s=self.retry_after_s
        )

    async def _connect(self, ws_url: str, params: dict[str, str]) -> aiohttp.ClientWebSocketResponse | None:
        """A session on one worker, or None when it cannot be reached or is full (403, 503)."""
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
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status != 401:
                return None
            if (refused := self._token_refusals.count()) is not None:
                log.error(
                    "an ASR worker refused the gateway's internal token: INTERNAL_TOKEN differs between them",
                    extra={"fields": {"worker": url_for_log(ws_url), "refused": refused}},
                )
            raise WorkerRefusedToken(
                "the ASR worker refused the gateway's credentials: a configuration error (see the gateway "
                "log); retry after the operator fixes it",
                retry_after_s=self.retry_after_s,
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None


def _ws(url: str) -> str:
    return url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
