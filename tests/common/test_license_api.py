"""Both sides of the license API (common/license_api.py) held to it: the real proxy (in-process, with a
signed offline license) serves and accepts its shapes, and the gateway's license client and middleware
parse and send them, each against the other."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from app.clients.license import LicenseClient
from app.sessions.usage import usage_record
from common import license_api as api
from license_proxy.server import create_app as create_proxy
from license_proxy.settings import LicenseProxySettings
from tests.support import ServerThread, own_database, wait_until
from tests.support.license import run_server_cli


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    root = tmp_path_factory.mktemp("license-api")
    run_server_cli("keygen", "--out", str(root / "keys"))
    run_server_cli(
        "sign", "--key", str(root / "keys" / "signing_key.pem"), "--out", str(root / "license.json"),
        "--license-id", "API-1", "--features", "tts,asr,streaming", "--audio-hours-per-day", "2",
    )
    settings = LicenseProxySettings(
        license_mode="offline",
        state_dir=root / "state",
        license_file=root / "license.json",
        license_public_key=str(root / "keys" / "public_key.pem"),
    )
    with ServerThread(create_proxy(settings)) as server:
        yield server


def _record(status: int = 200, served: bool = True, **state: object) -> api.UsageRecord:
    """The record the license middleware sends for a POST /v1/speak that set `state`."""
    scope = {"type": "http", "method": "POST", "path": "/v1/speak", "state": {"request_id": "r-1", **state}}
    return api.UsageRecord.model_validate(usage_record(scope, ("tts",), status, time.perf_counter(), served))


# --- the proxy's side ------------------------------------------------------------------------------
def test_the_proxy_serves_a_status_in_the_contract(proxy: ServerThread) -> None:
    body = httpx.get(f"{proxy.url}{api.STATUS_PATH}", timeout=10).json()
    status = api.LicenseStatus.model_validate(body)
    assert status.valid and status.mode == "offline" and status.license_id == "API-1"
    assert set(status.features) == {"tts", "asr", "streaming"} and status.quotas == {"audio_hours_per_day": 2}
    assert status.usage_today.day == api.utc_day()
    # Nothing the proxy sends lies outside the contract.
    assert set(body) == set(api.LicenseStatus.model_fields)


def test_the_proxy_takes_contract_records_and_refuses_anything_more(proxy: ServerThread) -> None:
    record = _record(audio_seconds=1.25, characters=7)
    post = api.UsagePost(records=[record]).model_dump(mode="json")
    first = httpx.post(f"{proxy.url}{api.USAGE_PATH}", json=post, timeout=10)
    again = httpx.post(f"{proxy.url}{api.USAGE_PATH}", json=post, timeout=10)
    assert first.status_code == again.status_code == 202
    accepted = api.UsageAccepted.model_validate(first.json())
    assert (accepted.accepted, accepted.duplicates) == (1, 0)
    assert api.UsageAccepted.model_validate(again.json()).duplicates == 1
    assert accepted.usage_today.day == api.utc_day() and accepted.usage_today.audio_seconds >= 1.25
    extra = {"records": [{**record.model_dump(), "record_id": uuid.uuid4().hex, "text": "hello"}]}
    assert httpx.post(f"{proxy.url}{api.USAGE_PATH}", json=extra, timeout=10).status_code == 422


# --- the gateway's side ----------------------------------------------------------------------------
def test_the_gateway_builds_records_in_the_contract() -> None:
    # What the license middleware sends, for a request that set its usage and for a refused one.
    served = _record(audio_seconds=2.5, characters=11)
    assert (served.audio_seconds, served.characters, served.route, served.request_id) == (2.5, 11, "/v1/speak", "r-1")
    refused = _record(402, served=False, audio_seconds=9.0)
    assert (refused.audio_seconds, refused.characters) == (0.0, 0)


async def test_the_gateway_client_reads_the_status_and_meters_through_the_proxy(
    proxy: ServerThread, redis_url: str
) -> None:
    redis = aioredis.from_url(own_database(redis_url))
    client = LicenseClient(
        proxy.url, mode="offline", refresh_interval_s=60, timeout_s=5, outbox_max=100, redis=redis
    )
    await client.start()
    try:
        assert isinstance(client.status, api.LicenseStatus) and client.status.valid
        before = client.audio_seconds_today()
        client.report(_record(audio_seconds=3.0).model_dump())
        await asyncio.to_thread(wait_until, lambda: client.pending_usage == 0, 15, "the record to reach the proxy")
        # The proxy's count came back in its UsageAccepted answer: no refresh needed to see it.
        assert client.audio_seconds_today() == pytest.approx(before + 3.0)
        assert (await client.probe()).detail["features"] == ["asr", "streaming", "tts"]
    finally:
        await client.stop()
        await redis.aclose()


def test_utc_day_is_the_day_in_utc() -> None:
    assert api.utc_day(0) == api.utc_day(86_399.9) == "1970-01-01"
    assert api.utc_day(86_400) == "1970-01-02"
