"""The batch queue under a burst, with real Redis and real workers: queued audio has a byte budget
(ASR_QUEUED_AUDIO_MAX_BYTES) shared by every gateway; a job that does not fit gets 503 + Retry-After,
every job accepted completes and its audio is deleted once transcribed, which frees the budget; and
a job's result is readable only with the key that created it (404 for any other, as for an unknown
id). The jobs wait in a database no worker reads until one is started on it: the burst is real."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from app.main import create_app
from common import asr_jobs as q
from tests.support import ServerThread, own_database, wait_until
from tests.support.asr import MAX_WER, Speech, Worker, gateway_settings, start_worker, wer
from tests.support.callbacks import Receiver

OWNER, OTHER = "k-owner-19d7c2a5e3", "k-other-8e4b1f6a0c"


def _queued_bytes(speech: Speech) -> int:
    return int(speech.duration * q.SAMPLE_RATE) * 2  # 16 kHz PCM16, as the gateway stores it


def test_a_burst_past_the_audio_budget_is_refused_and_every_accepted_job_completes(
    redis_url: str, asr_worker: Worker, speech: Speech, receiver: Receiver, tmp_path: Path
) -> None:
    database = own_database(redis_url)
    budget = int(2.5 * _queued_bytes(speech))  # room for two jobs
    settings = gateway_settings(
        database, asr_worker.port, asr_queued_audio_max_bytes=budget, api_keys=f"{OWNER},{OTHER}"
    )
    owner, other = {"X-API-Key": OWNER}, {"X-API-Key": OTHER}
    with ServerThread(create_app(settings)) as gateway, httpx.Client(base_url=gateway.url, timeout=60) as http:
        wait_until(lambda: http.get("/health?capability=asr").status_code == 200, 30, "the gateway to see a worker")
        answers = [
            http.post("/v1/listen", params={"callback_url": receiver.url}, content=speech.wav(), headers=owner)
            for _ in range(5)
        ]
        accepted = [a.json()["request_id"] for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code != 202]
        assert len(accepted) == 2 and [a.status_code for a in refused] == [503] * 3
        assert all(int(a.headers["retry-after"]) > 0 for a in refused)
        assert "ASR_QUEUED_AUDIO_MAX_BYTES" in refused[0].json()["error"]["message"]
        db = redis.Redis.from_url(database)
        assert all(db.exists(q.audio_key(job)) for job in accepted)  # accepted work is held, not evicted

        # Only the key that created a job reads it; another key is told it does not exist.
        assert http.get(f"/v1/listen/{accepted[0]}", headers=owner).json()["status"] == "queued"
        for job in (accepted[0], "0" * 32):
            hidden = http.get(f"/v1/listen/{job}", headers=other)
            assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
        assert http.get(f"/v1/listen/{accepted[0]}").status_code == 401

        worker = start_worker(database, tmp_path, "worker-budget", ASR_BEAM_SIZE="1")
        try:
            def done() -> bool:
                return all(
                    http.get(f"/v1/listen/{job}", headers=owner).json()["status"] == "done" for job in accepted
                )

            wait_until(done, 120, "every accepted job to complete")
            for job in accepted:
                result = http.get(f"/v1/listen/{job}", headers=owner).json()
                assert wer(speech.text, result["text"]) <= MAX_WER
                assert not db.exists(q.audio_key(job))  # deleted once transcribed
            wait_until(lambda: len(receiver.received) == 2, 60, "both callbacks")
            # The budget is free again.
            again = http.post("/v1/listen", params={"callback_url": receiver.url}, content=speech.wav(), headers=owner)
            assert again.status_code == 202
            wait_until(lambda: http.get(f"/v1/listen/{again.json()['request_id']}", headers=owner).json()["status"]
                       == "done", 60, "the next job")
        finally:
            worker.stop()
