"""A worker killed (SIGKILL) in the middle of a job: another worker claims it, finishes it, and the
result is stored and delivered once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from app.main import create_app
from common import asr_jobs as q
from tests.support import own_database, wait_until
from tests.support.asr import (
    MAX_WER,
    SENTENCES,
    ServerThread,
    gateway_settings,
    piper_speech,
    start_worker,
    wer,
)
from tests.support.callbacks import Receiver


def test_job_of_a_killed_worker_is_finished_by_another_once(redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    url = own_database(redis_url)  # own database: the session's worker must not take the job
    db = redis.Redis.from_url(url)
    db.flushdb()
    speech = piper_speech(SENTENCES * 2, pause_s=0.4)  # ~20 s: long enough to be killed mid-way
    fast_claim = {"ASR_CLAIM_IDLE_S": "2", "ASR_CALLBACK_BACKOFF_S": "0.2"}
    first = start_worker(url, tmp_path, "worker-a", **fast_claim)
    second = None
    try:
        with ServerThread(create_app(gateway_settings(url, first.port))) as gateway:
            wait_until(
                lambda: (
                    httpx.get(f"{gateway.url}/health", timeout=2).json()["components"]["asr"]["state"]
                    == "ready"
                ),
                20,
                "gateway sees worker A",
            )
            response = httpx.post(
                f"{gateway.url}/v1/listen",
                params={"callback_url": receiver.url},
                content=speech.wav(),
                timeout=30,
            )
            assert response.status_code == 202, response.text
            job_id = response.json()["request_id"]

            def held_by_a() -> bool:
                pending = db.xpending_range(q.STREAM, q.GROUP, min="-", max="+", count=10)
                return any(p["consumer"] == b"worker-a" for p in pending)

            wait_until(held_by_a, 30, "worker A to take the job", interval_s=0.05)
            time.sleep(0.3)
            assert not db.exists(q.result_key(job_id)), "worker A finished before it could be killed"
            first.kill()  # SIGKILL: no cleanup, no XACK
            assert db.xpending(q.STREAM, q.GROUP)["pending"] == 1

            second = start_worker(url, tmp_path, "worker-b", **fast_claim)
            wait_until(lambda: db.exists(q.result_key(job_id)) == 1, 90, "worker B to finish the job")
            result = q.loads(db.get(q.result_key(job_id)))
            assert result is not None and result["status"] == "done"
            assert wer(speech.text, result["text"]) <= MAX_WER
            wait_until(lambda: len(receiver.received) >= 1, 30, "the callback")
            time.sleep(1.5)  # room for a duplicate to show up, if there were one
            assert len(receiver.received) == 1 and receiver.received[0]["request_id"] == job_id
            assert db.llen(q.done_key(job_id)) == 1  # one completion notification
            assert db.xpending(q.STREAM, q.GROUP)["pending"] == 0
            assert "worker-b" in second.log_path.read_text()
            assert '"claimed": true' in second.log_path.read_text()
            fetched = httpx.get(f"{gateway.url}/v1/listen/{job_id}", timeout=10).json()
            assert fetched["text"] == result["text"]
    finally:
        receiver.server.shutdown()
        first.kill()
        if second is not None:
            second.stop()
