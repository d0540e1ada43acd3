"""Batch jobs: consume the Redis Stream, transcribe (speaker labels and redaction as asked: only
the finished, redacted result is stored or sent), store the result exactly once, notify."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import redis.asyncio as aioredis
from faster_whisper import BatchedInferencePipeline, WhisperModel

from common import asr_jobs as q
from common.aio import cancel_and_wait
from common.asr_options import InvalidOption
from common.pcm import pcm16_to_float

from .claims import delivery_count, ensure_group, kept_claimed, next_messages
from .features import Features, FeatureUnavailable
from .scheduler import DecodeScheduler
from .settings import AsrSettings
from .transcriber import Options, transcribe
from .watchdog import JobStalled, Progress, watched

log = logging.getLogger(__name__)

# Atomic "first result wins": only the worker whose SET NX succeeds notifies the waiting gateway and
# queues the callback, so a job retried after a crash is delivered once. The XACK happens either way.
_FINISH = """
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if won then
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[2])
  redis.call('DEL', KEYS[4])
  if ARGV[5] ~= '' then
    redis.call('XADD', KEYS[5], '*', 'job_id', ARGV[4], 'callback_url', ARGV[5])
  end
end
redis.call('XACK', KEYS[6], ARGV[6], ARGV[7])
redis.call('XDEL', KEYS[6], ARGV[7])
if won then return 1 end
return 0
"""


class JobConsumer:
    def __init__(
        self,
        settings: AsrSettings,
        redis: aioredis.Redis,
        model: WhisperModel,
        scheduler: DecodeScheduler,
        features: Features,
        consumer: str,
        concurrency: int = 1,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency  # jobs at once: one per model worker
        self.redis = redis
        self.model = model
        self.scheduler = scheduler  # live sessions' decodes go between this job's windows
        self.features = features
        self.pipeline = BatchedInferencePipeline(model)
        self.consumer = consumer
        self.jobs_done = 0
        self.stalled: list[str] = []  # jobs whose thread got stuck: this worker needs a restart

    async def run(self) -> None:
        """`concurrency` loops, each taking one job at a time (a loop whose job stalled stops)."""
        loops = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*loops)
        finally:
            await cancel_and_wait(loops)

    async def _loop(self) -> None:
        while True:
            try:
                await ensure_group(self.redis, q.STREAM, q.GROUP)
                while True:
                    batch = await next_messages(
                        self.redis, q.STREAM, q.GROUP, self.consumer, self.settings.asr_claim_idle_s, 1000
                    )
                    for (msg_id, fields), claimed in batch:
                        await self.process(msg_id, fields, claimed)
            except asyncio.CancelledError:
                raise
            except JobStalled:
                return  # its thread is stuck; /health asks for a restart, the other loops go on
            except Exception as exc:  # Redis down or restarting: keep trying, streaming still works
                log.warning(
                    "job loop error; retrying", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}}
                )
                await asyncio.sleep(1.0)

    async def process(self, msg_id: bytes, fields: dict[bytes, bytes], claimed: bool) -> None:
        job = q.Job.from_fields(fields)  # type: ignore[arg-type]
        started = time.perf_counter()
        log_fields: dict[str, Any] = {"job_id": job.job_id, "audio_s": job.duration, "claimed": claimed}
        if claimed:
            deliveries = await delivery_count(self.redis, q.STREAM, q.GROUP, msg_id)
            log_fields["deliveries"] = deliveries
            if deliveries > self.settings.asr_max_deliveries:
                await self.finish(
                    job, msg_id, _failure("internal_error", "the job failed on every worker that tried it")
                )
                return
        if await self.redis.exists(q.result_key(job.job_id)):  # finished before a crash, not acked
            await self.finish(job, msg_id, None)
            return
        pcm = cast(bytes | None, await self.redis.get(q.audio_key(job.job_id)))
        if pcm is None:
            await self.finish(
                job, msg_id, _failure("not_found", "the job's audio expired before it was processed")
            )
            return
        await self.redis.set(
            q.meta_key(job.job_id), q.dumps({"status": "processing"}), ex=self.settings.asr_result_ttl_s
        )
        log.info("job started", extra={"fields": log_fields})
        try:
            async with kept_claimed(
                self.redis, q.STREAM, q.GROUP, self.consumer, msg_id, self.settings.asr_claim_idle_s
            ):
                payload = await self._outcome(job, pcm)
        except JobStalled as exc:
            # Unacknowledged and no longer kept claimed: another worker takes it over after
            # ASR_CLAIM_IDLE_S, or this one's replacement does.
            self.stalled.append(job.job_id)
            log_fields.update(idle_s=round(exc.idle_s, 1), stack=exc.stack)
            log.error("job stalled; left to another worker", extra={"fields": log_fields})
            raise
        won = await self.finish(job, msg_id, payload)  # it adds the request_id
        self.jobs_done += 1
        log_fields.update(status=payload["status"], first=won, s=round(time.perf_counter() - started, 3))
        log.info("job finished", extra={"fields": log_fields})

    async def _outcome(self, job: q.Job, pcm: bytes) -> dict[str, Any]:
        """The payload to store: the transcript, or the failure a client is shown."""
        try:
            return {"status": "done", **await self._transcribe(job, pcm)}
        except JobStalled:
            raise
        except InvalidOption as exc:
            return _failure("invalid_parameter", str(exc), exc.param)
        except FeatureUnavailable as exc:
            return _failure("unavailable", str(exc))
        except Exception as exc:
            log.exception("job failed", extra={"fields": {"job_id": job.job_id}})
            return _failure("internal_error", f"transcription failed: {type(exc).__name__}")

    async def _transcribe(self, job: q.Job, pcm: bytes) -> dict[str, Any]:
        opts = Options(
            language=job.language or None,
            word_timestamps=job.word_timestamps or job.diarize,  # speakers are labelled per word
            prompt=job.prompt or None,
            hotwords=self.features.vocabulary.hotwords(job.keyword_list()),
            temperature=job.temperature,
            beam_size=self.settings.asr_beam_size,
            batched=job.duration >= self.settings.asr_batched_min_s,
            batch_size=self.settings.asr_batch_size,
        )
        audio = pcm16_to_float(pcm)
        progress = Progress(self.scheduler.batch_turn)
        result = await watched(
            asyncio.to_thread(transcribe, self.model, self.pipeline, audio, opts, progress.turn),
            progress,
            self.settings.asr_job_stall_s,
        )
        return await self.features.finish(
            audio, result, diarize=job.diarize, hints=job.hints(), redact=job.redactions()
        )

    async def finish(self, job: q.Job, msg_id: bytes, payload: dict[str, Any] | None) -> bool:
        """Store the result (first writer wins), notify, queue the callback, and acknowledge."""
        if payload is None:
            await self.redis.xack(q.STREAM, q.GROUP, msg_id)
            return False
        payload.setdefault("request_id", job.job_id)
        won = await self.redis.eval(
            _FINISH,
            6,
            q.result_key(job.job_id),
            q.done_key(job.job_id),
            q.meta_key(job.job_id),
            q.audio_key(job.job_id),
            q.CALLBACK_STREAM,
            q.STREAM,
            q.dumps(payload),
            str(self.settings.asr_result_ttl_s),
            q.dumps({"status": payload["status"]}),
            job.job_id,
            job.callback_url,
            q.GROUP,
            msg_id,
        )
        return bool(won)


def _failure(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"status": "failed", "error": {"code": code, "message": message, "param": param}}
