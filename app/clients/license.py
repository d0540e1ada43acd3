"""Client of the license proxy: a cached license status and a usage outbox.

The status is refreshed in the background, so checking the license on a request reads memory only.
When the proxy restarts, the last status stays in force until it answers again. Usage records wait
in a bounded outbox and are retried until the proxy has them (it dedupes on record_id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.aio import cancel_and_wait
from common.states import ComponentState

from ..components import ProbeResult

log = logging.getLogger(__name__)

_SEND_CHUNK = 200
_EXPIRED_CODES = frozenset({"expired", "grace_expired"})


def utc_day(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


@dataclass
class LicenseView:
    """The part of the proxy's GET /v1/license answer that the gateway enforces."""

    valid: bool
    mode: str
    code: str
    reason: str
    features: frozenset[str] = frozenset()
    quotas: dict[str, float] = field(default_factory=dict)
    license_id: str | None = None
    expires_at: float | None = None
    grace_remaining_s: float | None = None
    warning: str | None = None
    usage_day: str = ""
    audio_seconds_today: float = 0.0

    @classmethod
    def parse(cls, body: dict[str, Any]) -> LicenseView:
        usage = body.get("usage_today") or {}
        return cls(
            valid=bool(body["valid"]),
            mode=str(body["mode"]),
            code=str(body.get("code", "")),
            reason=str(body.get("reason", "")),
            features=frozenset(body.get("features") or ()),
            quotas={k: float(v) for k, v in (body.get("quotas") or {}).items()},
            license_id=body.get("license_id"),
            expires_at=body.get("expires_at"),
            grace_remaining_s=body.get("grace_remaining_s"),
            warning=body.get("warning"),
            usage_day=str(usage.get("day", "")),
            audio_seconds_today=float(usage.get("audio_seconds", 0.0)),
        )

    @property
    def expired(self) -> bool:
        return self.code in _EXPIRED_CODES


class LicenseClient:
    def __init__(
        self, base_url: str, *, mode: str, refresh_interval_s: float, timeout_s: float, outbox_max: int
    ) -> None:
        self.mode = mode  # "disabled": nothing is enforced or metered (explicit, unlicensed)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._refresh_interval_s = refresh_interval_s
        self.status: LicenseView | None = None
        self.proxy_error: str | None = None
        self.active_streams = 0
        self._outbox: deque[dict[str, Any]] = deque()
        self._outbox_max = outbox_max
        self._dropped = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh()
        self._tasks = [asyncio.create_task(self._refresh_loop()), asyncio.create_task(self._send_loop())]

    async def stop(self, flush_timeout_s: float = 3.0) -> None:
        await cancel_and_wait(self._tasks)
        # A send cut short above may have reached the proxy: it is re-sent, and the proxy dedupes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flush(), flush_timeout_s)
        if self._outbox:
            log.error(
                "usage records not delivered at shutdown", extra={"fields": {"records": len(self._outbox)}}
            )
        await self._http.aclose()

    # --- status ---------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        try:
            response = await self._http.get("/v1/license")
            response.raise_for_status()
            view = LicenseView.parse(response.json())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
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

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval_s)
            await self.refresh()

    def audio_seconds_today(self) -> float:
        """Today's audio (UTC day) as the proxy counted it, plus what still waits in the outbox."""
        today = utc_day()
        counted = self.status.audio_seconds_today if self.status and self.status.usage_day == today else 0.0
        waiting = sum(float(r.get("audio_seconds", 0.0)) for r in self._outbox if utc_day(r["ts"]) == today)
        return counted + waiting

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
            detail["proxy"] = "not answering; the last status stays in force"
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
        return len(self._outbox)

    def report(self, record: dict[str, Any]) -> None:
        """Queue one usage record; never blocks the request."""
        if len(self._outbox) >= self._outbox_max:
            self._dropped += 1
            if self._dropped % 1000 != 1:  # the first drop, then one line per thousand
                return
            log.error("usage outbox full; record dropped", extra={"fields": {"dropped_total": self._dropped}})
            return
        self._outbox.append(record)
        self._wake.set()

    async def _send_once(self) -> bool:
        chunk = [self._outbox[i] for i in range(min(_SEND_CHUNK, len(self._outbox)))]
        try:
            response = await self._http.post("/v1/usage", json={"records": chunk})
        except httpx.HTTPError:
            return False
        if response.status_code == 422:  # malformed: retrying cannot help; say so and move on
            log.error(
                "license proxy refused usage records as malformed", extra={"fields": {"records": len(chunk)}}
            )
        elif response.status_code >= 300:
            return False
        else:
            usage = response.json().get("usage_today") or {}
            if self.status is not None and usage.get("day"):
                self.status.usage_day = usage["day"]
                self.status.audio_seconds_today = float(usage.get("audio_seconds", 0.0))
        for _ in chunk:
            self._outbox.popleft()
        return True

    async def _flush(self) -> None:
        delay = 0.2
        while self._outbox:
            if await self._send_once():
                delay = 0.2
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()
