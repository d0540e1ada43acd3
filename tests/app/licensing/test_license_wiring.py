"""The licensing parts as the real gateway (create_app) and proxy wire them; the spool's bound."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import GatewaySettings
from common.license_api import UsageRecord
from license_proxy.spool import SpoolFull, UsageSpool
from tests.support import free_port, own_database, wait_until
from tests.support.license import LicenseProxy, record

pytestmark = pytest.mark.slow


def gateway_settings(redis_url: str, proxy_port: int, mode: str) -> GatewaySettings:
    return GatewaySettings(
        redis_url=own_database(redis_url),  # own database: its usage records stay here
        asr_port=free_port(),
        license_proxy_port=proxy_port,
        license_mode=mode,
        health_probe_interval_s=0.2,
        license_refresh_interval_s=0.2,
    )


def test_create_app_in_disabled_mode_serves_and_health_says_unlicensed(redis_url: str) -> None:
    # No proxy at all: the CPU profile's one-command run must not depend on it to serve.
    with TestClient(create_app(gateway_settings(redis_url, free_port(), "disabled"))) as client:
        component = client.get("/health").json()["components"]["license"]
        assert component["state"] == "disabled" and component["license"] == "unlicensed"
        assert client.get("/v1/voices").status_code == 200  # served, not refused


def test_create_app_refuses_when_the_proxy_says_invalid(redis_url: str, tmp_path: Path) -> None:
    proxy = LicenseProxy(
        tmp_path / "state",
        {
            "LICENSE_MODE": "offline",
            "LICENSE_FILE": str(tmp_path / "none.json"),
            "LICENSE_PUBLIC_KEY": "/nonexistent.pem",
        },
    )
    proxy.start()
    try:
        with TestClient(create_app(gateway_settings(redis_url, proxy.port, "offline"))) as client:
            wait_until(
                lambda: client.get("/health").json()["components"]["license"]["state"] == "invalid",
                10,
                "invalid",
            )
            component = client.get("/health").json()["components"]["license"]
            assert "LICENSE_PUBLIC_KEY cannot be loaded" in component["error"]
            refused = client.get("/v1/voices", headers={"X-Request-ID": "wiring-1"})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_licensed"
            assert refused.headers["x-request-id"] == "wiring-1"
            assert client.get("/health/live").status_code == 200
    finally:
        proxy.stop()


def test_usage_endpoint_dedupes_refuses_content_and_bounds_the_spool(tmp_path: Path) -> None:
    proxy = LicenseProxy(
        tmp_path / "state",
        {
            "LICENSE_MODE": "online",
            "LICENSE_SERVER_URL": f"http://127.0.0.1:{free_port()}",
            "USAGE_SPOOL_MAX_RECORDS": "5",
        },
    )
    proxy.start()
    try:
        first = [record() for _ in range(4)]
        accepted = httpx.post(f"{proxy.url}/v1/usage", json={"records": first}).json()
        assert (accepted["accepted"], accepted["duplicates"]) == (4, 0)
        assert accepted["usage_today"]["audio_seconds"] == pytest.approx(6.0)
        again = httpx.post(f"{proxy.url}/v1/usage", json={"records": first[:2]}).json()
        assert (again["accepted"], again["duplicates"]) == (0, 2)  # a gateway retry is not counted twice
        assert "usage spool nearly full" in proxy.log()
        assert proxy.status()["spool"] == {"pending": 4, "max_records": 5, "near_full": True}

        with_text = httpx.post(f"{proxy.url}/v1/usage", json={"records": [record(text="secret words")]})
        assert with_text.status_code == 422  # a record cannot carry content

        full = httpx.post(f"{proxy.url}/v1/usage", json={"records": [record(), record()]})
        assert full.status_code == 507 and "spool is full" in full.json()["error"]["message"]
    finally:
        proxy.stop()


def test_spool_batches_keep_their_id_until_acknowledged(tmp_path: Path) -> None:
    spool = UsageSpool(tmp_path / "spool.sqlite3", max_records=10)
    spool.add([UsageRecord.model_validate(record()) for _ in range(3)])
    first = spool.next_batch(2)
    assert first is not None and len(first.records) == 2
    again = spool.next_batch(2)  # not acknowledged: the same batch, same records
    assert again is not None and again.batch_id == first.batch_id and again.records == first.records
    spool.ack(first.batch_id)
    rest = spool.next_batch(2)
    assert rest is not None and rest.batch_id != first.batch_id and len(rest.records) == 1
    spool.ack(rest.batch_id)
    assert spool.next_batch(2) is None and spool.pending() == 0
    with pytest.raises(SpoolFull):
        spool.add([UsageRecord.model_validate(record()) for _ in range(11)])
    spool.close()
