"""Callback deliveries connect to the address that was checked (no DNS rebinding), are signed, and are
logged without the receiver's query (README "Security")."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any, cast

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.abc import AbstractResolver, ResolveResult

from asr_engine.callbacks import CallbackSender
from asr_engine.claims import ensure_group
from asr_engine.settings import AsrSettings
from common import asr_jobs as q
from common import callback_signature
from common.callback_guard import callback_policy, checked_addresses
from common.logging import JsonFormatter
from tests.support import REPO, own_database
from tests.support.callbacks import Receiver

SECRET = "callback-signing-secret-for-the-test"
RECEIVER_TOKEN = "receivers-own-token-in-the-query"
RECEIVER = "127.0.0.2"  # the receiver the check allows
INTERNAL = "127.0.0.1"  # where the appliance's own services listen: blocked
POLICY = dict(callback_blocked_networks=f"{INTERNAL}/32", callback_allowed_networks=f"{RECEIVER}/32")


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    """The legitimate receiver and an internal service on the same port of another address."""
    for _ in range(20):
        legit = Receiver(RECEIVER, fail_first=0)
        try:
            internal = Receiver(INTERNAL, legit.port, fail_first=0)
        except OSError:
            legit.close()  # the port is taken on the other address
            continue
        break
    else:
        pytest.fail("no port free on both addresses")
    with legit, internal:
        yield legit, internal


class RebindingDns:
    """A stand-in for DNS: the first lookup of a name answers the receiver's address, every later one
    127.0.0.1. No DNS server here can be made to change its answer between two lookups on demand, and
    that change is the attack (DNS rebinding): a check that resolves, then a client that resolves again."""

    def __init__(self) -> None:
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> list[Any]:
        self.lookups += 1
        address = RECEIVER if self.lookups == 1 else INTERNAL
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


class PlainResolver(AbstractResolver):
    """What a client does on its own: resolve again, check nothing."""

    def __init__(self, dns: RebindingDns) -> None:
        self.dns = dns

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": i[4][0], "port": port, "family": i[0], "proto": 0, "flags": 0}
            for i in await self.dns(host, port)
        ]

    async def close(self) -> None:
        pass


def readme_verify() -> Callable[[bytes, bytes, str], bool]:
    """The `verify` of README's "Verifying a callback" code block."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("**Verifying a callback.**") :].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(block, namespace)  # the README's own code, not a copy of it
    return cast(Callable[[bytes, bytes, str], bool], namespace["verify"])


async def test_check_then_resolve_again_is_the_attack(receivers: tuple[Receiver, Receiver]) -> None:
    """The control: checking the name and letting the client resolve it again posts to the internal
    service. (What the sender must not do; the next test shows it does not.)"""
    legit, internal = receivers
    dns = RebindingDns()
    policy = callback_policy(POLICY["callback_blocked_networks"], POLICY["callback_allowed_networks"])
    await checked_addresses("hooks.example", legit.port, policy, dns)  # passes: the first answer
    connector = aiohttp.TCPConnector(resolver=PlainResolver(dns), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(f"http://hooks.example:{legit.port}/hook", data=b"{}") as response:
            assert response.status == 204
    assert len(internal.posts) == 1 and not legit.posts


async def test_the_sender_connects_to_the_address_it_checked_and_signs(
    receivers: tuple[Receiver, Receiver],
) -> None:
    legit, internal = receivers
    dns = RebindingDns()
    settings = AsrSettings(callback_signing_secret=SECRET, **POLICY)  # type: ignore[arg-type]
    sender = CallbackSender(settings, aioredis.Redis(), "delivery-test", lookup=dns)
    body = json.dumps({"request_id": "job-1", "status": "done", "text": "x"}).encode()
    try:
        url = f"http://hooks.example:{legit.port}/hook?token={RECEIVER_TOKEN}"
        assert await sender.post(url, body, "job-1") == 204
        # A second connection resolves (and checks) again: the name now answers 127.0.0.1, refused.
        with pytest.raises(ValueError, match="CALLBACK_BLOCKED_NETWORKS"):
            await sender.post(url, body, "job-1")
    finally:
        await sender.aclose()
    assert not internal.posts, "a delivery reached the internal service"
    assert dns.lookups == 2  # one lookup per connection, and it is the one checked
    assert len(legit.posts) == 1
    headers, received = legit.posts[0]
    assert received == body and headers["host"] == f"hooks.example:{legit.port}"
    # The receiver's check (README "Security"): HMAC-SHA256 over "<t>." + body with the shared secret.
    # Checked with the receiver code README "Security" gives, as a receiver would run it.
    verify = readme_verify()
    signature = headers[callback_signature.HEADER.lower()]
    assert verify(SECRET.encode(), received, signature)
    assert not verify(b"another-secret", received, signature)
    assert not verify(SECRET.encode(), received + b" ", signature)
    stale = callback_signature.sign(SECRET, received, timestamp=int(signature.split(",")[0][2:]) - 3600)
    assert not verify(SECRET.encode(), received, stale)  # a replay an hour later


async def test_a_name_that_now_resolves_inside_is_refused_without_a_request(
    receivers: tuple[Receiver, Receiver],
) -> None:
    legit, internal = receivers
    dns = RebindingDns()
    dns.lookups = 1  # the name already moved: every answer is 127.0.0.1
    settings = AsrSettings(callback_signing_secret=SECRET, **POLICY)  # type: ignore[arg-type]
    sender = CallbackSender(settings, aioredis.Redis(), "delivery-test", lookup=dns)
    try:
        with pytest.raises(ValueError, match="CALLBACK_BLOCKED_NETWORKS"):
            await sender.post(f"http://hooks.example:{legit.port}/hook", b"{}", "job-2")
        with pytest.raises(ValueError, match="CALLBACK_BLOCKED_NETWORKS"):  # an IP literal never asks DNS
            await sender.post(f"http://{INTERNAL}:{legit.port}/hook", b"{}", "job-2")
    finally:
        await sender.aclose()
    assert not internal.posts and not legit.posts


async def test_delivery_is_retried_signed_and_logged_without_the_query(
    receivers: tuple[Receiver, Receiver], redis_url: str
) -> None:
    legit, _ = receivers
    legit.fail_first = 1
    own_db = own_database(redis_url)  # the session's worker must not deliver this one
    redis = aioredis.from_url(own_db)
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter("asr_worker"))
    logging.getLogger("asr_engine.callbacks").addHandler(handler)
    settings = AsrSettings(
        redis_url=own_db, asr_callback_backoff_s=0.05, callback_signing_secret="", **POLICY  # type: ignore[arg-type]
    )
    sender = CallbackSender(settings, redis, "delivery-test")
    url = f"http://{RECEIVER}:{legit.port}/hook?token={RECEIVER_TOKEN}"
    try:
        await ensure_group(redis, q.CALLBACK_STREAM, q.CALLBACK_GROUP)
        await redis.set(q.result_key("job-3"), json.dumps({"request_id": "job-3", "status": "done"}))
        msg_id = await redis.xadd(q.CALLBACK_STREAM, {"job_id": "job-3", "callback_url": url})
        await sender.deliver(msg_id, {b"job_id": b"job-3", b"callback_url": url.encode()})
    finally:
        logging.getLogger("asr_engine.callbacks").removeHandler(handler)
        await sender.aclose()
        await redis.aclose()
    assert len(legit.posts) == 2  # the 500, then the delivery
    assert callback_signature.HEADER.lower() not in legit.posts[-1][0]  # no secret set: unsigned, and said so
    text = logs.getvalue()
    assert "CALLBACK_SIGNING_SECRET is not set" in text
    assert f'"target": "http://{RECEIVER}:{legit.port}/hook"' in text and '"attempt": 1' in text
    assert RECEIVER_TOKEN not in text and "token=" not in text
