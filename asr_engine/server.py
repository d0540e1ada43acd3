"""The worker's HTTP/WebSocket API (loopback only): health, streaming sessions; batch jobs come
from Redis and run in background tasks started once the model is loaded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import asdict

import numpy as np
import redis.asyncio as aioredis
from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse

from common import asr_stream as proto
from common.aio import cancel_and_wait
from common.asr_jobs import SAMPLE_RATE
from common.asr_stream import ProtocolError
from common.internal_auth import InternalTokenMiddleware

from . import __version__
from .callbacks import CallbackSender
from .decoder import BatchDecoder, DecodeRequest
from .features import Features
from .jobs import JobConsumer
from .model import LoadedModel, load_model
from .registry import Registration
from .scheduler import DecodeScheduler
from .settings import AsrSettings
from .streaming import end_with_error, serve_session
from .vocabulary import load_vocabulary_file

log = logging.getLogger(__name__)


def create_app(settings: AsrSettings | None = None) -> FastAPI:
    settings = settings or AsrSettings()
    consumer = settings.asr_consumer_name or f"{socket.gethostname()}-{os.getpid()}"

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.model = None
        app.state.load_error = None
        app.state.jobs = None
        app.state.scheduler = None
        app.state.features = None
        operator = load_vocabulary_file(settings.asr_vocabulary_file)  # a bad file stops the worker here
        redis = aioredis.from_url(
            settings.redis_url,
            password=settings.redis_password or None,  # a password in the URL wins
            socket_connect_timeout=2,
            health_check_interval=10,
        )
        registration = app.state.registration = Registration(redis, settings, consumer)
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(registration.run())]

        async def load() -> None:
            try:
                # Loading blocks for seconds; the API answers "starting" meanwhile.
                loaded = await asyncio.to_thread(load_model, settings)
                features = app.state.features = await asyncio.to_thread(
                    Features.load, settings, loaded.model, operator
                )
            except Exception as exc:
                log.exception("model failed to load")
                app.state.load_error = f"{type(exc).__name__}: {exc}"
                return
            scheduler = app.state.scheduler = await start_scheduler(loaded, settings)
            tasks.append(asyncio.create_task(scheduler.run()))
            app.state.model = loaded
            registration.ready = True
            await registration.publish()
            app.state.jobs = JobConsumer(
                settings, redis, loaded.model, scheduler, features, consumer, concurrency=loaded.inter_threads
            )
            tasks.append(asyncio.create_task(app.state.jobs.run()))
            tasks.append(asyncio.create_task(CallbackSender(settings, redis, consumer).run()))
            log.info("consuming batch jobs", extra={"fields": {"consumer": consumer}})

        tasks.append(asyncio.create_task(load()))
        try:
            yield
        finally:
            await cancel_and_wait(tasks)
            await registration.withdraw()
            await redis.aclose()

    app = FastAPI(title="ASR worker", version=__version__, lifespan=lifespan)
    app.add_middleware(
        InternalTokenMiddleware, token=settings.internal_token, service="asr_worker",
        open_paths=("/health", "/health/live"),
    )

    def stalled() -> JSONResponse | None:
        """500 once a batch job's thread got stuck: the health monitor and the liveness probe restart
        a worker that answers it (503 "starting" is not a failure to them)."""
        jobs: JobConsumer | None = app.state.jobs
        if jobs is None or not jobs.stalled:
            return None
        message = "a batch job's thread stopped moving (its stack is in the log); this worker needs a restart"
        return JSONResponse(
            {"status": "stalled", "version": __version__, "error": message, "stalled_jobs": jobs.stalled},
            status_code=500,
        )

    @app.get("/health/live", response_model=None)
    async def live() -> dict[str, str] | JSONResponse:
        """Liveness: the process answers (the model may still be loading) and no job thread is stuck."""
        return stalled() or {"status": "alive", "version": __version__}

    @app.get("/health")
    async def health() -> JSONResponse:
        if (stuck := stalled()) is not None:
            return stuck
        loaded: LoadedModel | None = app.state.model
        if loaded is None:
            body = {
                "status": "starting" if app.state.load_error is None else "failed",
                "version": __version__,
            }
            if app.state.load_error:
                body["error"] = app.state.load_error
            return JSONResponse(body, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "version": __version__,
                "model": loaded.name,
                "device": loaded.device,
                "compute_type": loaded.compute_type,
                "threads": {"intra": loaded.intra_threads, "inter": loaded.inter_threads},
                "languages": loaded.model.supported_languages,
                "consumer": consumer,
                "jobs_done": app.state.jobs.jobs_done if app.state.jobs else 0,
                "sessions": app.state.registration.sessions,
                "max_sessions": settings.asr_max_sessions,
                "callbacks_signed": bool(settings.callback_signing_secret),
                "speaker_labels": app.state.features.diarizer is not None,
                "vocabulary_entries": len(app.state.features.vocabulary.operator),
                "scheduler": asdict(app.state.scheduler.stats),
            }
        )

    @app.websocket(proto.PATH)
    async def stream(websocket: WebSocket) -> None:
        registration: Registration = app.state.registration
        if registration.full:
            # Refused before the handshake completes: a gateway takes that as "try another worker".
            await websocket.close(1013)
            return
        # Counted (and published) before the handshake completes, so the gateway that opened this
        # session already sees it when it picks a worker for the next one.
        await registration.session_opened()
        try:
            await _serve(websocket)
        finally:
            await registration.session_closed()

    async def _serve(websocket: WebSocket) -> None:
        await websocket.accept()
        loaded: LoadedModel | None = app.state.model
        if loaded is None:
            loading = ProtocolError(503, proto.ERROR_STARTING, "the model is loading; retry shortly")
            await end_with_error(websocket, loading)
            return
        await serve_session(websocket, loaded.model, app.state.scheduler, app.state.features, settings)

    return app


async def start_scheduler(loaded: LoadedModel, settings: AsrSettings) -> DecodeScheduler:
    """The live decoder, warmed up (its first batch pays for allocations), and its scheduler."""
    decoder = BatchDecoder(
        loaded.model, margin_s=settings.asr_stream_window_margin_s, step_s=settings.asr_stream_window_step_s
    )
    await asyncio.to_thread(decoder.decode, [DecodeRequest(np.zeros(SAMPLE_RATE, dtype=np.float32))])
    return DecodeScheduler(
        decoder.decode,
        max_batch=settings.asr_stream_max_batch,
        tick_budget_s=settings.asr_stream_tick_budget_ms / 1000,
        slots=loaded.inter_threads,
        fair_turns=settings.asr_batch_fair_turns,
    )
