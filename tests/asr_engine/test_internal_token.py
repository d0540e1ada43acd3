"""The ASR worker's streaming API wants the internal token (README "Security": a worker hands every
session's transcript to whoever opens it); the gateway's client presents it. On SIGTERM the worker
refuses new sessions and lets the open one finish (common/serving.py)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.clients.asr import AsrClient
from app.components import ComponentRegistry
from app.errors import UpstreamUnavailable
from common import asr_stream
from common.asr_stream import StreamOptions
from tests.support import own_database, until
from tests.support.asr import MAX_WER, Speech, start_worker, wer

pytestmark = pytest.mark.slow

TOKEN = "internal-token-for-the-worker-test"


def _client(redis: aioredis.Redis, url: str, token: str) -> AsrClient:
    components = ComponentRegistry(probe_timeout_s=1, retry_after_s=1)
    components.add("asr", None)
    return AsrClient(
        redis, components, worker_url=url, result_ttl_s=60, max_queued=10, retry_after_s=1, internal_token=token
    )


async def _refused_with(ws_url: str, headers: dict[str, str]) -> int | None:
    try:
        async with connect(ws_url, additional_headers=headers, open_timeout=5):
            return None
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_worker_wants_the_token_and_drains_on_sigterm(
    redis_url: str, tmp_path: Path, speech: Speech, caplog: pytest.LogCaptureFixture
) -> None:
    worker = start_worker(own_database(redis_url), tmp_path, "token-worker", INTERNAL_TOKEN=TOKEN, DRAIN_TIMEOUT_S="30")
    redis = aioredis.from_url(own_database(redis_url))
    ws_url = worker.url.replace("http://", "ws://") + asr_stream.PATH
    with_token, without = _client(redis, worker.url, TOKEN), _client(redis, worker.url, "")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{worker.url}/health")).status_code == 200  # probes need no token
        # 401, not the 403 of a full worker: the gateway tells a wrong INTERNAL_TOKEN apart
        assert await _refused_with(ws_url, {}) == 401
        assert await _refused_with(ws_url, {"Authorization": "Bearer not-the-token"}) == 401
        for _ in range(3):  # a misconfigured gateway retrying: one log line, not one per session
            with pytest.raises(UpstreamUnavailable, match="refused the gateway's credentials"):
                await without.open_stream(StreamOptions())
        refusals = [r for r in caplog.records if "refused the gateway's internal token" in r.getMessage()]
        assert [r.fields["refused"] for r in refusals] == [1], refusals  # type: ignore[attr-defined]
        session = await with_token.open_stream(StreamOptions())

        worker.process.send_signal(signal.SIGTERM)

        # Draining: the next session is refused with 503 (a gateway tries another worker) ...
        async def draining() -> bool:
            status = await _refused_with(ws_url, {"Authorization": f"Bearer {TOKEN}"})
            assert status in (503, 403, None), status
            return status == 503

        await until(draining, 10, "the worker to start draining")
        # ... while the open one is served to its end.
        await session.send_bytes(speech.pcm16k())
        await session.send_str(json.dumps({"type": "close_stream"}))
        finals = []
        async for message in session:
            assert message.type == aiohttp.WSMsgType.TEXT, message
            body = json.loads(message.data)
            if body.get("is_final") and body.get("transcript"):
                finals.append(body["transcript"])
            if body.get("is_last"):
                break
        await session.close()
        assert wer(speech.text, " ".join(finals)) <= MAX_WER, finals
        # Nothing left in flight: it exits without waiting out DRAIN_TIMEOUT_S.
        assert worker.process.wait(15) == 0, worker.log()[-2000:]
        assert TOKEN not in worker.log()
    finally:
        await with_token.aclose()
        await without.aclose()
        await redis.aclose()
        worker.kill()
