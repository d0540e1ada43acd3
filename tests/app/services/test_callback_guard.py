"""callback_url cannot reach the appliance's own loopback services or link-local metadata, at submit
(gateway, 422) and at delivery (worker, no POST is made)."""

from __future__ import annotations

import json

import httpx
import pytest
import redis.asyncio as aioredis

from app.main import create_app
from asr_engine.callbacks import CallbackSender
from asr_engine.claims import ensure_group
from asr_engine.settings import AsrSettings
from common import asr_jobs as q
from common.callback_guard import (
    DEFAULT_BLOCKED_NETWORKS,
    CallbackRefused,
    CallbackUnresolvable,
    check_callback_url,
    parse_networks,
)
from tests.support import ServerThread, own_database
from tests.support.asr import Speech, Worker, gateway_settings
from tests.support.callbacks import Receiver

BLOCKED = parse_networks(DEFAULT_BLOCKED_NETWORKS)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",  # Redis
        "http://localhost:8000/v1/completions",  # vLLM, by name
        "http://[::1]:6699/",
        "http://[::ffff:127.0.0.1]:9001/RPC2",  # loopback written as IPv4-mapped IPv6
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://0.0.0.0:8080/",
    ],
)
async def test_loopback_and_link_local_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused, match="CALLBACK_BLOCKED_NETWORKS"):
        await check_callback_url(url, BLOCKED)


@pytest.mark.parametrize("url", ["http://10.1.2.3:8443/hook", "https://192.0.2.7/results", "http://[2001:db8::5]/x"])
async def test_private_and_public_receivers_are_allowed(url: str) -> None:
    await check_callback_url(url, BLOCKED)


async def test_malformed_and_unresolvable_urls_are_refused_clearly() -> None:
    with pytest.raises(CallbackRefused, match="absolute http"):
        await check_callback_url("ftp://example.com/x", BLOCKED)
    with pytest.raises(CallbackRefused, match="invalid port"):
        await check_callback_url("http://example.com:99999/x", BLOCKED)
    with pytest.raises(CallbackUnresolvable, match="does not resolve"):
        await check_callback_url("http://no-such-host.invalid/x", BLOCKED)


def test_bad_networks_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        AsrSettings(callback_blocked_networks="127.0.0.0/8,not-a-cidr")


def test_gateway_refuses_a_callback_to_its_own_services(redis_url: str, asr_worker: Worker, speech: Speech) -> None:
    settings = gateway_settings(redis_url, asr_worker.port, callback_blocked_networks=DEFAULT_BLOCKED_NETWORKS)
    with ServerThread(create_app(settings)) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/listen",
            params={"callback_url": "http://127.0.0.1:6379/"},
            content=speech.wav(),
            timeout=10,
        )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "callback_url" and "127.0.0.1" in error["message"]


async def test_worker_does_not_post_to_a_blocked_address(redis_url: str) -> None:
    """A job queued while loopback was allowed (or a name that now resolves to loopback) is not
    delivered there: the worker checks again, makes no request, and settles the delivery."""
    own_db = own_database(redis_url)  # the session's worker must not deliver this one
    receiver = Receiver()
    redis = aioredis.from_url(own_db)
    sender = CallbackSender(AsrSettings(redis_url=own_db, asr_callback_backoff_s=0.05), redis, "guard-test")
    try:
        await ensure_group(redis, q.CALLBACK_STREAM, q.CALLBACK_GROUP)
        await redis.set(q.result_key("guard-job"), json.dumps({"request_id": "guard-job", "text": "x"}))
        msg_id = await redis.xadd(q.CALLBACK_STREAM, {"job_id": "guard-job", "callback_url": receiver.url})
        # deliver() returns once the delivery is settled: any POST it were to make would be made by then.
        await sender.deliver(msg_id, {b"job_id": b"guard-job", b"callback_url": receiver.url.encode()})
        assert receiver.attempts == 0
        assert await redis.xrange(q.CALLBACK_STREAM, msg_id, msg_id) == []  # settled, not retried later
    finally:
        await sender.http.aclose()
        await redis.aclose()
        receiver.server.shutdown()
