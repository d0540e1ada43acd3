"""A batch job whose thread gets stuck (asr_engine/watchdog.py), against real Redis and tiny.en: the
worker logs where the thread stands, lets the job go, and answers its health checks with 500; another
worker takes the job over and finishes it."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from faster_whisper import WhisperModel

from asr_engine.features import Features
from asr_engine.jobs import JobConsumer
from asr_engine.scheduler import DecodeScheduler
from asr_engine.server import create_app
from asr_engine.settings import AsrSettings
from asr_engine.vocabulary import Vocabulary, whisper_token_counter
from common import asr_jobs as q
from common.aio import cancel_and_wait
from health_monitor.checks import _http_check
from tests.support import own_database, until
from tests.support.asr import SENTENCES, piper_speech
from tests.support.asr_session import RecordingDecoder

pytestmark = pytest.mark.slow


async def test_a_stuck_job_is_left_to_another_worker(
    redis_url: str, tiny_en: WhisperModel, recording: RecordingDecoder, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_database(redis_url)
    redis = aioredis.from_url(url)
    features = Features(Vocabulary([], whisper_token_counter(tiny_en)), None, "not needed here")
    speech = piper_speech(SENTENCES[:1])
    job = q.Job(job_id=q.new_job_id(), duration=speech.duration)
    await redis.set(q.audio_key(job.job_id), speech.pcm16k())
    await redis.xadd(q.STREAM, job.to_fields())  # type: ignore[arg-type]

    # A model call that never returns cannot be made on demand. A neighbour that holds the
    # scheduler's only turn and never gives it back leaves the job's thread stuck the same way, in
    # the real scheduler: it waits for a turn that does not come.
    stuck_scheduler = DecodeScheduler(recording.decode, slots=1)
    free_scheduler = DecodeScheduler(recording.decode, slots=1)
    schedulers = [asyncio.create_task(s.run()) for s in (stuck_scheduler, free_scheduler)]
    await asyncio.sleep(0)
    holding, release = threading.Event(), threading.Event()

    def neighbour() -> None:
        with stuck_scheduler.batch_turn():
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=neighbour)
    holder.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.to_thread(holding.wait, 10)
        stuck = JobConsumer(
            AsrSettings(redis_url=url, asr_job_stall_s=1.0, asr_claim_idle_s=1.0),
            redis, tiny_en, stuck_scheduler, features, "stuck-worker",
        )
        caplog.set_level(logging.INFO, logger="asr_engine.jobs")
        stuck_run = asyncio.create_task(stuck.run())
        tasks.append(stuck_run)
        await until(lambda: bool(stuck.stalled), 20, "the job to be seen stalled")
        assert stuck.stalled == [job.job_id]
        await asyncio.wait_for(stuck_run, 5)  # its only loop stopped: no more jobs for a stuck worker

        (record,) = [r for r in caplog.records if r.getMessage().startswith("job stalled")]
        logged = record.fields  # type: ignore[attr-defined]
        assert logged["job_id"] == job.job_id and logged["idle_s"] >= 1.0
        assert "in batch_turn" in logged["stack"] and "in transcribe" in logged["stack"], logged["stack"]
        assert await redis.get(q.result_key(job.job_id)) is None
        pending = await redis.xpending_range(q.STREAM, q.GROUP, min="-", max="+", count=10)
        assert [p["consumer"] for p in pending] == [b"stuck-worker"]  # not acknowledged: left to others

        # Its health checks fail, so the health monitor (and a liveness probe) restart it.
        app = create_app(AsrSettings(redis_url=url))
        app.state.jobs = stuck
        client = TestClient(app)  # no lifespan: only the health routes are asked
        for path in ("/health/live", "/health"):
            response = client.get(path)
            assert response.status_code == 500, (path, response.text)
            assert response.json()["status"] == "stalled" and response.json()["stalled_jobs"] == [job.job_id]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
            with pytest.raises(RuntimeError, match="HTTP 500"):
                await _http_check(http, "http://worker/health")()

        # Another worker claims the job once it has been idle for ASR_CLAIM_IDLE_S, and finishes it.
        healthy = JobConsumer(
            AsrSettings(redis_url=url, asr_claim_idle_s=1.0), redis, tiny_en, free_scheduler, features,
            "healthy-worker",
        )
        tasks.append(asyncio.create_task(healthy.run()))
        await until(lambda: redis.exists(q.result_key(job.job_id)), 60, "the other worker's result")
        result = q.loads(await redis.get(q.result_key(job.job_id)))
        assert result is not None and result["status"] == "done", result
        assert "fox" in result["text"].lower(), result
        assert healthy.jobs_done == 1 and not healthy.stalled
        assert await redis.xpending(q.STREAM, q.GROUP) == {
            "pending": 0, "min": None, "max": None, "consumers": []
        }
    finally:
        # The stuck scheduler stops first: the job thread waiting on it ends, as in a worker's shutdown
        # (released first, it would go on and take its turns after the test).
        await cancel_and_wait(tasks + schedulers)
        release.set()
        await asyncio.to_thread(holder.join, 10)
        await redis.aclose()
