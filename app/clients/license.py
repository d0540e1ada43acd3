"""Client of the license proxy: a cached license status and a usage outbox.

The status is refreshed in the background, so checking the license on a request reads memory only.
When the proxy restarts, the last status stays in force until it answers again. Usage records wait
in a bounded outbox and are retried until the proxy has them (it dedupes on record_id). The outbox
lives in a Redis stream (append-only file on disk), so records still owed survive a gateway that is
killed or restarted; a record reaches it within moments of its request. Only while Redis is down do
records wait in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict, deque
from typing import Any, cast

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.aio import cancel_and_wait
from common.internal_auth import bearer
from common.license_api import STATUS_PATH, USAGE_PATH, LicenseStatus, UsageAccepted, utc_day
from common.states import ComponentState

from ..components import ProbeResult

log = logging.getLogger(__name__)

_SEND_CHUNK = 200
USAGE_OUTBOX_STREAM = "appliance:usage-outbox"


class LicenseClient:
    def __init__(
        self,
        base_url: str,
        *,
        mode: str,
        refresh_interval_s: float,
        timeout_s: float,
        outbox_max: int,
        redis: aioredis.Redis,
        internal_token: str = "",
    ) -> None:
        self.mode = mode  # "disabled": nothing is enforced or metered (explicit, unlicensed)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers=bearer(internal_token))
        self._refresh_interval_s = refresh_interval_s
        self.status: LicenseStatus | None = None
        self.proxy_error: str | None = None
        self.active_streams = 0
        self._redis = redis
        self._memory: deque[dict[str, Any]] = deque()  # not in Redis yet (or Redis is down)
        self._spooled = 0  # records in the Redis stream, as last seen
        self._waiting_audio: defaultdict[str, float] = defaultdict(float)  # per UTC day, not yet at the proxy
        self._outbox_max = outbox_max
        self._dropped = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh()
        await self._load_spooled()
        self._tasks = [asyncio.create_task(self._refresh_loop()), asyncio.create_task(self._send_loop())]
        if self._spooled:
            self._wake.set()

    async def stop(self, flush_timeout_s: float = 3.0) -> None:
        await cancel_and_wait(self._tasks)
        # A send cut short above may have reached the proxy: it is re-sent, and the proxy dedupes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(), flush_timeout_s)
        if self._memory:
            log.error(
                "usage records not delivered at shutdown", extra={"fields": {"records": len(self._memory)}}
            )
        elif self._spooled:
            log.info("usage records kept in Redis for the next start", extra={"fields": {"records": self._spooled}})
        await self._http.aclose()

    # --- status ---------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        try:
            response = await self._http.get(STATUS_PATH)
            if response.status_code == 401:
                self._token_refused()
                return
            response.raise_for_status()
            view = LicenseStatus.model_validate_json(response.content)
        except (httpx.HTTPError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            if self.proxy_error is None:
                # With licensing disabled nothing depends on the proxy: not worth a warning.
                log.log(
                    logging.INFO if self.mode == "disabled" else logging.WARNING,
                    "license proxy not answering; keeping the last status",
                    extra={"fields": {"error": type(exc).__name__}},
                )
            self.proxy_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return
        if self.status is None or (self.status.valid, self.status.code) != (view.valid, view.code):
            log.info(
                "license status",
                extra={"fields": {"valid": view.valid, "code": view.code, "mode": view.mode}},
            )
        self.status, self.proxy_error = view, None

    def _token_refused(self) -> None:
        """A misconfiguration, not an outage: said as such, once, in the log and in /health."""
        why = "the license proxy refused the gateway's internal token: INTERNAL_TOKEN differs between them"
        if self.proxy_error != why:
            log.error(why)
        self.proxy_error = why

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval_s)
            await self.refresh()

    def audio_seconds_today(self) -> float:
        """Today's audio (UTC day) as the proxy counted it, plus what still waits in the outbox."""
        today = utc_day()
        usage = self.status.usage_today if self.status else None
        counted = usage.audio_seconds if usage and usage.day == today else 0.0
        return counted + self._waiting_audio[today]

    async def probe(self) -> ProbeResult:
        """The `license` component of GET /health."""
        view = self.status
        if self.mode == "disabled":
            reason = view.reason if view else "LICENSE_MODE=disabled"
            return ProbeResult(
                ComponentState.DISABLED, {"mode": "disabled", "license": "unlicensed", "reason": reason}
            )
        if view is None:
            return ProbeResult(
                ComponentState.STARTING, {"error": self.proxy_error or "license status not known yet"}
            )
        detail: dict[str, Any] = {"mode": view.mode, "code": view.code}
        if self.proxy_error:
            detail["proxy"] = f"{self.proxy_error}; the last status stays in force"
        if view.mode == "disabled":
            return ProbeResult(
                ComponentState.DISABLED, {**detail, "license": "unlicensed", "reason": view.reason}
            )
        if not view.valid:
            return ProbeResult(ComponentState.INVALID, {**detail, "error": view.reason})
        detail.update(license_id=view.license_id, expires_at=view.expires_at, features=sorted(view.features))
        if view.warning:
            detail.update(warning=view.warning, grace_remaining_s=view.grace_remaining_s)
        return ProbeResult(ComponentState.READY, detail)

    # --- usage ------------------------------------------------------------------------------------------
    @property
    def pending_usage(self) -> int:
        """Records not yet taken by the proxy."""
        return len(self._memory) + self._spooled

    def report(self, record: dict[str, Any]) -> None:
        """Queue one usage record; never blocks the request."""
        if self.pending_usage >= self._outbox_max:
            self._dropped += 1
            if self._dropped % 1000 != 1:  # the first drop, then one line per thousand
                return
            log.error("usage outbox full; record dropped", extra={"fields": {"dropped_total": self._dropped}})
            return
        self._memory.append(record)
        self._count_waiting(record, 1)
        self._wake.set()

    def _count_waiting(self, record: dict[str, Any], sign: int) -> None:
        self._waiting_audio[utc_day(record["ts"])] += sign * float(record.get("audio_seconds", 0.0))

    async def _load_spooled(self) -> None:
        """Records a previous gateway left in Redis (it was killed, or the proxy was down at its stop)."""
        try:
            entries = await self._read_spooled()
        except RedisError as exc:
            log.warning("usage outbox in Redis not readable", extra={"fields": {"error": type(exc).__name__}})
            return
        self._spooled = len(entries)
        for _, record in entries:
            self._count_waiting(record, 1)
        if entries:
            log.info("usage records from before the last stop", extra={"fields": {"records": len(entries)}})

    async def _read_spooled(self, count: int | None = None) -> list[tuple[bytes, dict[str, Any]]]:
        raw = await self._redis.xrange(USAGE_OUTBOX_STREAM, count=count)
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], raw)
        return [(msg_id, json.loads(fields[b"record"])) for msg_id, fields in entries]

    async def _spool(self) -> None:
        """Memory -> Redis stream. Redis down: the records stay in memory and are sent from there."""
        if not self._memory:
            return
        batch = list(self._memory)
        pipe = self._redis.pipeline(transaction=False)
        for record in batch:
            pipe.xadd(USAGE_OUTBOX_STREAM, {"record": json.dumps(record)})
        try:
            await pipe.execute()
        except RedisError:
            # Some may have been added before the error: sent twice then, and deduped by the proxy.
            return
        for _ in batch:
            self._memory.popleft()
        self._spooled += len(batch)

    async def _next_chunk(self) -> tuple[list[dict[str, Any]], list[bytes] | None]:
        """The oldest records owed: from Redis (with their stream ids), else from memory."""
        if self._spooled:
            try:
                entries = await self._read_spooled(_SEND_CHUNK)
            except RedisError:
                entries = None
            if entries is not None:
                if not entries:
                    self._spooled = 0  # taken meanwhile by another gateway sharing this Redis
                else:
                    return [record for _, record in entries], [msg_id for msg_id, _ in entries]
        return [self._memory[i] for i in range(min(_SEND_CHUNK, len(self._memory)))], None

    async def _send_once(self) -> bool:
        chunk, stream_ids = await self._next_chunk()
        if not chunk:
            return True
        try:
            response = await self._http.post(USAGE_PATH, json={"records": chunk})
        except httpx.HTTPError:
            return False
        if response.status_code == 422:  # malformed: retrying cannot help; say so and move on
            log.error(
                "license proxy refused usage records as malformed", extra={"fields": {"records": len(chunk)}}
            )
        elif response.status_code >= 300:
            if response.status_code == 401:
                self._token_refused()
            return False
        else:
            accepted = UsageAccepted.model_validate_json(response.content)
            if self.status is not None:
                self.status = self.status.model_copy(update={"usage_today": accepted.usage_today})
        if stream_ids is not None:
            try:
                await self._redis.xdel(USAGE_OUTBOX_STREAM, *stream_ids)
            except RedisError:
                return False  # sent again later; the proxy dedupes on record_id
            self._spooled = max(0, self._spooled - len(stream_ids))
        else:
            for _ in chunk:
                self._memory.popleft()
        for record in chunk:
            self._count_waiting(record, -1)
        return True

    async def _flush(self) -> None:
        delay = 0.2
        while self.pending_usage:
            await self._spool()
            if await self._send_once():
                delay = 0.2
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _send_loop(self) -> None:
        """Spool new records at once; send with a backoff while the proxy does not take them."""
        delay, next_attempt = 0.2, 0.0
        while True:
            if not self.pending_usage:
                await self._wake.wait()
            self._wake.clear()
            await self._spool()
            if self.pending_usage and time.monotonic() >= next_attempt:
                if await self._send_once():
                    delay, next_attempt = 0.2, 0.0
                else:
                    next_attempt = time.monotonic() + delay
                    delay = min(delay * 2, 5.0)
            wait_s = next_attempt - time.monotonic()
            if self.pending_usage and wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)
