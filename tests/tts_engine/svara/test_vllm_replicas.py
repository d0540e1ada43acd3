"""TTS_LLM_BASE_URL with several vLLM replicas: least outstanding requests first, replicas that are
down skipped, `dns+` names expanded to every address.

The replicas are the HTTP stand-in of tests/support/vllm_standin.py: the point is how requests
spread over several servers held busy at once, and two real vLLM CPU servers (each several GiB and
both cores) cannot run side by side on the CI machine. A replica that is down is a real closed port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from tests.support import free_port
from tests.support.svara import config_for_tests
from tests.support.vllm_standin import Script, VllmStandin
from tts_engine.svara import replicas
from tts_engine.svara.vllm_client import SamplingParams, VllmClient

STOP = [128258]


def _connect(urls: str) -> VllmClient:
    return replicas.connect(config_for_tests(tts_llm_base_url=urls, retry_after_s=1), stop_token_ids=STOP)


@pytest.fixture
def standins() -> Iterator[list[VllmStandin]]:
    servers = [VllmStandin().start() for _ in range(2)]
    for server in servers:
        server.script = Script(text="<custom_token_10>" * 40, delay_s=0.02, max_piece=17)
    yield servers
    for server in servers:
        server.stop()


async def _drain(client: VllmClient) -> str:
    async with contextlib.aclosing(client.stream("prompt", SamplingParams())) as pieces:
        return "".join([piece async for piece in pieces])


def test_one_url_is_the_plain_client() -> None:
    client = _connect("http://127.0.0.1:8000")
    assert type(client) is VllmClient


async def test_concurrent_requests_spread_by_outstanding_count(standins: list[VllmStandin]) -> None:
    client = _connect(",".join(s.url for s in standins))
    try:
        assert (await client.health()).ok
        texts = await asyncio.gather(*(_drain(client) for _ in range(6)))
        assert all(text == "<custom_token_10>" * 40 for text in texts)
        # Six requests held open at once: each replica got half of them.
        assert [len(s.requests) for s in standins] == [3, 3]
        assert isinstance(client, replicas.VllmReplicas) and set(client.outstanding.values()) == {0}
    finally:
        await client.close()


async def test_a_replica_that_is_down_gets_nothing(standins: list[VllmStandin]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    client = _connect(f"{dead},{standins[0].url}")
    try:
        assert (await client.health()).ok  # one healthy replica is enough
        await asyncio.gather(*(_drain(client) for _ in range(3)))
        assert len(standins[0].requests) == 3
        standins[0].healthy = False  # answers /health 503 and refuses completions
        assert not (await client.health()).ok
    finally:
        await client.close()


async def test_dns_entry_expands_to_every_address(standins: list[VllmStandin]) -> None:
    client = _connect(f"dns+http://localhost:{standins[0].port}")
    try:
        assert (await client.health()).ok
        assert isinstance(client, replicas.VllmReplicas)
        assert "http://127.0.0.1:" + str(standins[0].port) in client.outstanding
        await _drain(client)
        assert len(standins[0].requests) == 1
    finally:
        await client.close()
