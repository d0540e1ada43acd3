"""Scale-out on one machine: two gateways and three ASR workers, each in its split role
(`APPLIANCE_ROLE=… scripts/start.sh`, no supervisord), sharing one Redis. Batch and streaming
traffic goes through both gateways; one worker is killed with SIGKILL in the middle. Then: no batch
job is lost or duplicated, streaming sessions were spread over the workers, the killed worker's
sessions ended with an error frame, and sessions opened afterwards succeed on the others."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from common import asr_jobs as q
from common import asr_registry as reg
from tests.support import ServiceProcess, own_database, until
from tests.support.asr import MAX_WER, SENTENCES, piper_speech, wer
from tests.support.callbacks import Receiver
from tests.support.split import split_gateway, split_worker, wait_ready

pytestmark = pytest.mark.slow

CHUNK_S = 0.1
WORKER_ENV = {
    "ASR_BEAM_SIZE": "1",
    "ASR_CLAIM_IDLE_S": "3",  # the killed worker's job is claimed again quickly
    "ASR_CALLBACK_BACKOFF_S": "0.2",
    "ASR_STREAM_PARTIAL_INTERVAL_S": "2",
    "ASR_STREAM_IDLE_TIMEOUT_S": "20",
}


def _callbacks_settled(db: redis.Redis) -> bool:
    groups = {g["name"].decode(): g for g in db.xinfo_groups(q.CALLBACK_STREAM)}
    group = groups.get(q.CALLBACK_GROUP)
    return group is not None and not group["pending"] and not group["lag"]


def records(db: redis.Redis) -> dict[str, reg.WorkerRecord]:
    out = {}
    for member in db.smembers(reg.WORKERS):
        raw = db.get(reg.record_key(member.decode()))
        if raw is not None:
            record = reg.WorkerRecord.loads(raw)
            out[record.worker_id] = record
    return out


SILENCE = bytes(16000 * 2)  # 1 s of 16 kHz PCM16


class StreamSession:
    """One client streaming audio at real-time pace, then close_stream. With `repeat` it loops until
    told to stop; those long-held sessions send silence, so that the two shared CPU cores keep up with
    seven sessions and the batch jobs (the worker only runs VAD on silence)."""

    def __init__(self, gateway: ServiceProcess, pcm: bytes, *, repeat: bool) -> None:
        self.url = gateway.url.replace("http://", "ws://") + "/v1/listen/stream?sample_rate=16000"
        self.pcm = pcm
        self.repeat = repeat
        self.stop = asyncio.Event()
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.task = asyncio.create_task(self.run())

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "error"]

    async def run(self) -> None:
        async with connect(self.url) as ws:
            receiver = asyncio.create_task(self._receive(ws))
            step = int(CHUNK_S * 16000) * 2
            try:
                while not receiver.done():
                    for offset in range(0, len(self.pcm), step):
                        if receiver.done() or self.stop.is_set():
                            break
                        await ws.send(self.pcm[offset : offset + step])
                        await asyncio.sleep(CHUNK_S)
                    if not self.repeat or self.stop.is_set():
                        break
                if not receiver.done():
                    await ws.send(json.dumps({"type": "close_stream"}))
            except ConnectionClosed:
                pass
            await asyncio.wait_for(receiver, 120)
            self.close_code = ws.close_code

    async def _receive(self, ws: Any) -> None:
        try:
            async for raw in ws:
                self.messages.append(json.loads(raw))
        except ConnectionClosed:
            pass


async def test_two_gateways_three_workers_one_killed(redis_url: str, tmp_path: Path, receiver: Receiver) -> None:
    url = own_database(redis_url)  # own database: no other test's worker takes these jobs
    db = redis.Redis.from_url(url)
    db.flushdb()
    sentence = piper_speech(SENTENCES[:1], pause_s=0.8)
    batch_speech = piper_speech(SENTENCES[1:2], pause_s=0.3)
    workers = {name: split_worker(url, tmp_path, name, **WORKER_ENV) for name in ("w1", "w2", "w3")}
    gateways: list[ServiceProcess] = []
    sessions: list[StreamSession] = []
    try:
        for name, worker in workers.items():
            wait_ready(worker, "/health", f"ASR worker {name}")
        gateways = [split_gateway(url, tmp_path, name) for name in ("g1", "g2")]
        await until(lambda: len(records(db)) == 3, 10, "three workers in the registry")

        # Six streaming sessions, alternating between the gateways.
        for i in range(6):
            sessions.append(StreamSession(gateways[i % 2], SILENCE, repeat=True))
            await until(lambda n=i + 1: sum(r.sessions for r in records(db).values()) == n, 30, f"session {i + 1}")
        spread = {name: r.sessions for name, r in records(db).items()}
        assert all(n >= 1 for n in spread.values()) and max(spread.values()) - min(spread.values()) <= 1, spread

        # Batch jobs through both gateways: some with a callback (202), some synchronous.
        async with httpx.AsyncClient(timeout=300) as http:
            queued: list[str] = []
            for i in range(6):
                response = await http.post(
                    f"{gateways[i % 2].url}/v1/listen",
                    params={"callback_url": receiver.url},
                    content=batch_speech.wav(),
                )
                assert response.status_code == 202, response.text
                queued.append(response.json()["request_id"])
            synchronous = [
                asyncio.create_task(http.post(f"{g.url}/v1/listen", content=batch_speech.wav())) for g in gateways
            ]

            # Kill a worker in the middle: one holding a job when there is one.
            def holder() -> str | None:
                pending = db.xpending_range(q.STREAM, q.GROUP, min="-", max="+", count=20)
                return pending[0]["consumer"].decode() if pending else None

            try:
                await until(lambda: holder() is not None, 20, "a worker to take a job")
                victim = holder() or "w1"
            except TimeoutError:
                victim = "w1"
            victim_sessions = records(db)[victim].sessions
            assert victim_sessions >= 1
            workers[victim].kill()  # SIGKILL: no cleanup, no XACK, no goodbye to the gateways

            # Its sessions end with an error frame; the others keep going.
            await until(lambda: sum(1 for s in sessions if s.task.done()) >= victim_sessions, 60, "killed sessions")
            ended = [s for s in sessions if s.task.done()]
            assert len(ended) == victim_sessions
            for s in ended:
                assert s.errors and s.errors[-1]["error"]["code"] == "upstream_stream_failed", s.messages[-3:]
                assert s.close_code == 1011

            # New sessions after the kill succeed, on the surviving workers.
            fresh = [StreamSession(g, sentence.pcm16k(), repeat=False) for g in (*gateways, gateways[0])]
            await asyncio.gather(*(s.task for s in fresh))
            for s in fresh:
                assert not s.errors and s.close_code == 1000, s.messages[-3:]
                assert s.messages[-1]["is_last"] is True
                finals = [m["transcript"] for m in s.messages if m.get("is_final")]
                assert wer(sentence.text, " ".join(finals)) <= MAX_WER, finals

            # The surviving sessions end normally.
            survivors = [s for s in sessions if not s.task.done()]
            for s in survivors:
                s.stop.set()
            await asyncio.gather(*(s.task for s in survivors))
            assert all(not s.errors and s.close_code == 1000 for s in survivors)

            for response in await asyncio.gather(*synchronous):
                assert response.status_code == 200, response.text
                assert wer(batch_speech.text, response.json()["text"]) <= MAX_WER

        # Every queued job finished exactly once, the killed worker's included.
        await until(lambda: len({r["request_id"] for r in receiver.received}) == len(queued), 180, "callbacks")
        # Every delivery finished (acknowledged): none is owed, so no duplicate can follow.
        await until(lambda: _callbacks_settled(db), 60, "the callback deliveries to finish")
        delivered = sorted(r["request_id"] for r in receiver.received)
        assert delivered == sorted(queued)
        for job_id in queued:
            assert db.llen(q.done_key(job_id)) == 1
            result = q.loads(db.get(q.result_key(job_id)))
            assert result is not None and result["status"] == "done"
            assert wer(batch_speech.text, result["text"]) <= MAX_WER
        assert db.xpending(q.STREAM, q.GROUP)["pending"] == 0
        assert victim not in records(db)  # its record expired; the gateways no longer pick it
    finally:
        for s in sessions:
            s.task.cancel()
        receiver.server.shutdown()
        for process in [*gateways, *workers.values()]:
            process.stop()
