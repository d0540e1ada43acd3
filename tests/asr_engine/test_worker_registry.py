"""A worker with ASR_DISCOVERY=registry announces itself in Redis: its address, capacity, open
sessions (updated as sessions open and close) and readiness; it refuses a session beyond its
capacity before the handshake, and withdraws its record when it stops cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from common import asr_registry as reg
from tests.support import own_database, until
from tests.support.split import split_worker, wait_ready

pytestmark = pytest.mark.slow


def record(db: redis.Redis, worker_id: str) -> reg.WorkerRecord | None:
    raw = db.get(reg.record_key(worker_id))
    return None if raw is None else reg.WorkerRecord.loads(raw)


async def test_worker_announces_counts_refuses_and_withdraws(redis_url: str, tmp_path: Path) -> None:
    url = own_database(redis_url)
    db = redis.Redis.from_url(url)
    db.flushdb()
    worker = split_worker(url, tmp_path, "solo", ASR_MAX_SESSIONS="1")
    try:
        wait_ready(worker, "/health", "ASR worker")
        announced = record(db, "solo")
        assert announced is not None and announced.ready and announced.capacity == 1
        assert announced.url == worker.url and announced.sessions == 0
        assert db.sismember(reg.WORKERS, "solo")
        assert 0 < db.pttl(reg.record_key("solo")) <= 1500  # three heartbeats of 0.5 s

        ws_url = worker.url.replace("http://", "ws://") + "/v1/stream"
        async with connect(ws_url) as first:
            counted = record(db, "solo")
            assert counted is not None and counted.sessions == 1
            with pytest.raises(InvalidStatus):  # full: refused before the handshake completes
                async with connect(ws_url):
                    pass
            await first.send(json.dumps({"type": "close_stream"}))
            async for raw in first:
                if json.loads(raw).get("is_last"):
                    break

        def closed() -> bool:
            entry = record(db, "solo")
            return entry is not None and entry.sessions == 0

        await until(closed, 5, "the session's close in the registry")  # published right after the session ends
        worker.process.terminate()
        worker.process.wait(30)
        assert record(db, "solo") is None and not db.sismember(reg.WORKERS, "solo")
    finally:
        worker.kill()
