"""Sends spooled usage to the license server in batches, at least once, under idempotency keys."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from .settings import LicenseProxySettings
from .spool import Batch, UsageSpool

log = logging.getLogger(__name__)

USAGE_PATH = "/v1/usage/batches"


def batch_totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The aggregate the server bills on; the records ride along so it can audit and dedupe."""
    by_feature: dict[str, dict[str, float]] = {}
    for record in records:
        for feature in record.get("features") or ["none"]:
            entry = by_feature.setdefault(feature, {"requests": 0, "audio_seconds": 0.0, "characters": 0})
            entry["requests"] += 1
            entry["audio_seconds"] += float(record.get("audio_seconds", 0.0))
            entry["characters"] += int(record.get("characters", 0))
    return {
        "requests": len(records),
        "audio_seconds": sum(float(r.get("audio_seconds", 0.0)) for r in records),
        "characters": sum(int(r.get("characters", 0)) for r in records),
        "by_feature": by_feature,
    }


class UsageReporter:
    def __init__(
        self, settings: LicenseProxySettings, http: httpx.AsyncClient, spool: UsageSpool, instance_id: str
    ) -> None:
        self.settings = settings
        self.http = http
        self.spool = spool
        self.instance_id = instance_id
        self.wake = asyncio.Event()

    async def send(self, batch: Batch) -> bool:
        url = self.settings.license_server_url.rstrip("/") + USAGE_PATH
        body = {
            "batch_id": batch.batch_id,
            "instance_id": self.instance_id,
            "records": batch.records,
            "totals": batch_totals(batch.records),
        }
        headers = {
            "Idempotency-Key": batch.batch_id,
            "Authorization": f"Bearer {self.settings.license_key}",
        }
        try:
            response = await self.http.post(
                url, json=body, headers=headers, timeout=self.settings.license_http_timeout_s
            )
        except httpx.HTTPError as exc:
            log.warning("usage report failed; will retry", extra={"fields": {"error": type(exc).__name__}})
            return False
        if response.status_code >= 300:
            log.warning(
                "usage report refused; will retry", extra={"fields": {"status": response.status_code}}
            )
            return False
        log.info(
            "usage reported", extra={"fields": {"batch_id": batch.batch_id, "records": len(batch.records)}}
        )
        return True

    async def flush(self) -> bool:
        """Send every pending batch; False as soon as one fails (it stays spooled, same id)."""
        while True:
            batch = await asyncio.to_thread(self.spool.next_batch, self.settings.usage_batch_size)
            if batch is None:
                return True
            if not await self.send(batch):
                return False
            await asyncio.to_thread(self.spool.ack, batch.batch_id)

    async def run(self) -> None:
        failures = 0
        while True:
            ok = await self.flush()
            failures = 0 if ok else failures + 1
            if failures:  # back off; a full batch waiting does not hurry a server that is down
                retry = self.settings.license_retry_min_s * 2 ** (failures - 1)
                await asyncio.sleep(min(self.settings.license_retry_max_s, retry))
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.usage_report_interval_s)
            except TimeoutError:
                pass
