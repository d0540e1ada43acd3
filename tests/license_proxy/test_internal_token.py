"""The license proxy refuses calls without the internal token (README "Security"), and the gateway's
license client presents it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from app.clients.license import LicenseClient
from tests.support import own_database
from tests.support.license import LicenseProxy

pytestmark = pytest.mark.slow

TOKEN = "internal-token-for-the-proxy-test"


async def test_proxy_wants_the_token_and_the_gateway_sends_it(tmp_path: Path, redis_url: str) -> None:
    proxy = LicenseProxy(tmp_path / "state", {"LICENSE_MODE": "disabled", "INTERNAL_TOKEN": TOKEN})
    proxy.start()  # waits for /health: probes carry no token, and need none
    redis = aioredis.from_url(own_database(redis_url))
    http = httpx.AsyncClient(base_url=proxy.url, timeout=5)
    try:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN}):
            response = await http.get("/v1/license", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
            usage = await http.post("/v1/usage", json={"records": []}, headers=headers)
            assert usage.status_code == 401
        allowed = await http.get("/v1/license", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and allowed.json()["mode"] == "disabled"

        for token, answers in ((TOKEN, True), ("", False)):
            client = LicenseClient(
                proxy.url, mode="disabled", refresh_interval_s=60, timeout_s=2, outbox_max=10, redis=redis,
                internal_token=token,
            )
            await client.refresh()
            assert (client.status is not None) is answers, client.proxy_error
            if not answers:  # a configuration error, named as one
                assert "INTERNAL_TOKEN differs" in str(client.proxy_error), client.proxy_error
            await client._http.aclose()
        log = proxy.log()
        assert TOKEN not in log and "not-the-token" not in log
        refusals = [json.loads(line) for line in log.splitlines() if "without the internal token" in line]
        assert refusals and refusals[0]["presented"] == "nothing" and refusals[0]["path"] == "/v1/license"
    finally:
        await http.aclose()
        await redis.aclose()
        proxy.stop()
