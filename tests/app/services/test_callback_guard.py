"""callback_url cannot reach the appliance's own loopback services or link-local metadata, nor any
private address unless its network is allow-listed, at submit (gateway, 422) and at delivery
(worker, no POST is made)."""

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
    callback_policy,
    check_callback_url,
)
from tests.support import ServerThread, own_database
from tests.support.asr import Speech, Worker, gateway_settings
from tests.support.callbacks import Receiver

DEFAULTS = callback_policy(DEFAULT_BLOCKED_NETWORKS, "")


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
        await check_callback_url(url, DEFAULTS)
    # Allow-listing cannot open what is blocked.
    with pytest.raises(CallbackRefused, match="CALLBACK_BLOCKED_NETWORKS"):
        await check_callback_url(url, callback_policy(DEFAULT_BLOCKED_NETWORKS, "0.0.0.0/0,::/0"))


PRIVATE = [
    "http://10.1.2.3:8443/hook",
    "http://172.20.0.5/hook",  # a cluster's pod network
    "http://192.168.1.9/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://[fd00::5]/x",  # unique local IPv6
    "http://[::ffff:10.0.0.1]/x",  # private written as IPv4-mapped IPv6
    "https://192.0.2.7/results",  # documentation range: not routable either
]


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_receivers_need_their_network_allow_listed(url: str) -> None:
    with pytest.raises(CallbackRefused, match="CALLBACK_ALLOWED_NETWORKS"):
        await check_callback_url(url, DEFAULTS)
    allowing = callback_policy(
        DEFAULT_BLOCKED_NETWORKS, "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7,192.0.2.0/24"
    )
    await check_callback_url(url, allowing)


@pytest.mark.parametrize("url", ["http://8.8.8.8:8443/hook", "https://[2606:4700:4700::1111]/results"])
async def test_public_receivers_are_allowed(url: str) -> None:
    await check_callback_url(url, DEFAULTS)


async def test_malformed_and_unresolvable_urls_are_refused_clearly() -> None:
    with pytest.raises(CallbackRefused, match="absolute http"):
        await check_callback_url("ftp://example.com/x", DEFAULTS)
    with pytest.raises(CallbackRefused, match="invalid port"):
        await check_callback_url("http://example.com:99999/x", DEFAULTS)
    with pytest.raises(CallbackUnresolvable, match="does not resolve"):
        await check_callback_url("http://no-such-host.invalid/x", DEFAULTS)


def test_bad_networks_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        AsrSettings(callback_blocked_networks="127.0.0.0/8,not-a-cidr")
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        AsrSettings(callback_allowed_networks="10.0.0.0/33")


def test_gateway_refuses_a_callback_to_its_own_services(redis_url: str, asr_worker: Worker, speech: Speech) -> None:
    settings = gateway_settings(
        redis_url, asr_worker.port, callback_blocked_networks=DEFAULT_BLOCKED_NETWORKS, callback_allowed_networks=""
    )
    with ServerThread(create_app(settings)) as gateway:
        refused = {
            url: httpx.post(f"{gateway.url}/v1/listen", params={"callback_url": url}, content=speech.wav(), timeout=10)
            for url in ("http://127.0.0.1:6379/", "http://10.0.0.7/hook")
        }
    for url, response in refused.items():
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["param"] == "callback_url" and url.split("/")[2].split(":")[0] in error["message"]


async def test_worker_does_not_post_to_a_blocked_address(redis_url: str, receiver: Receiver) -> None:
    """A job queued while loopback was allowed (or a name that now resolves to loopback) is not
    delivered there: the worker checks again, makes no request, and settles the delivery."""
    own_db = own_database(redis_url)  # the session's worker must not deliver this one
    redis = aioredis.from_url(own_db)
    sender = CallbackSender(AsrSettings(redis_url=own_db, asr_callback_backoff_s=0.05), redis, "guard-test")
    assert receiver.url.startswith("http://127.0.0.1:")
    try:
        await ensure_group(redis, q.CALLBACK_STREAM, q.CALLBACK_GROUP)
        await redis.set(q.result_key("guard-job"), json.dumps({"request_id": "guard-job", "text": "x"}))
        msg_id = await redis.xadd(q.CALLBACK_STREAM, {"job_id": "guard-job", "callback_url": receiver.url})
        # deliver() returns once the delivery is settled: any POST it were to make would be made by then.
        await sender.deliver(msg_id, {b"job_id": b"guard-job", b"callback_url": receiver.url.encode()})
        assert receiver.attempts == 0
        assert await redis.xrange(q.CALLBACK_STREAM, msg_id, msg_id) == []  # settled, not retried later
    finally:
        await sender.aclose()
        await redis.aclose()
