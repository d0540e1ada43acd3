"""Builds the gateway. Nothing heavy happens at import time: clients are made in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from common.states import ComponentState

from . import __version__
from .clients.asr import AsrClient
from .components import ComponentRegistry, ProbeResult, http_health_probe
from .errors import install_error_handlers
from .middleware import RequestIdMiddleware
from .routes import health, listen, transcriptions
from .services.transcription import TranscriptionService
from .settings import GatewaySettings

log = logging.getLogger(__name__)


def _redis_probe(client: aioredis.Redis):  # type: ignore[no-untyped-def]
    async def probe() -> ProbeResult:
        await client.ping()
        return ProbeResult(ComponentState.READY)

    return probe


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient(timeout=httpx.Timeout(settings.health_probe_timeout_s))
        redis = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        registry = ComponentRegistry(
            probe_timeout_s=settings.health_probe_timeout_s, retry_after_s=settings.retry_after_s
        )
        registry.add("redis", _redis_probe(redis))
        registry.add("asr", http_health_probe(http, f"{settings.asr_url}/health"))
        registry.add("license", http_health_probe(http, f"{settings.license_proxy_url}/health"))
        app.state.settings = settings
        app.state.http = http
        app.state.redis = redis
        app.state.components = registry
        app.state.asr = AsrClient(
            redis, registry, worker_url=settings.asr_url, result_ttl_s=settings.asr_result_ttl_s,
            max_queued=settings.asr_max_queued_jobs, retry_after_s=settings.retry_after_s,
        )
        app.state.transcription = TranscriptionService(
            app.state.asr, registry, job_timeout_s=settings.asr_job_timeout_s,
            max_audio_seconds=settings.max_audio_seconds,
        )
        await registry.refresh_all()
        prober = asyncio.create_task(registry.run(settings.health_probe_interval_s))
        log.info("gateway started", extra={"fields": {"profile": settings.profile, "port": settings.gateway_port}})
        try:
            yield
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
            await app.state.asr.aclose()
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Speech appliance",
        version=__version__,
        lifespan=lifespan,
        description="Text-to-speech and speech-to-text on one port.",
    )
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(listen.router)
    app.include_router(transcriptions.router)
    return app
