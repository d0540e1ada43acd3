"""Builds the gateway. Nothing heavy happens at import time: clients are made in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from common.aio import cancel_and_wait
from common.callback_guard import callback_policy
from common.states import ComponentState

from . import __version__
from .access import AccessMiddleware, key_id, load_key_digests
from .clients.asr import AsrClient
from .clients.license import LicenseClient
from .components import ComponentRegistry, ProbeResult, http_health_probe
from .errors import install_error_handlers
from .licensing import LicenseMiddleware
from .middleware import BodyTimeoutMiddleware, MetricsMiddleware, RequestIdMiddleware
from .openapi import install_openapi
from .ops import router as ops_router
from .playground import install_playground
from .services.transcription import TranscriptionService
from .sessions.admission import EngineLimiter, SessionLimitMiddleware
from .sessions.bodies import Body, BodyLimitMiddleware
from .sessions.leases import Leases
from .sessions.sockets import SocketLimits
from .sessions.speech import SpeechSessions
from .sessions.transcription import TranscriptionSessions
from .settings import GatewaySettings, KeyLimits
from .surfaces import ROUTERS
from .tts import start_tts

log = logging.getLogger(__name__)


def _redis_probe(client: aioredis.Redis):  # type: ignore[no-untyped-def]
    async def probe() -> ProbeResult:
        await client.ping()
        return ProbeResult(ComponentState.READY)

    return probe


def _limiter(engine: str, active: int, waiting: int, settings: GatewaySettings) -> EngineLimiter:
    return EngineLimiter(
        engine, max_active=active, max_waiting=waiting, max_wait_s=settings.engine_max_wait_s,
        retry_after_s=settings.retry_after_s,
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = httpx.AsyncClient(timeout=httpx.Timeout(settings.health_probe_timeout_s))
        redis = aioredis.from_url(
            settings.redis_url, password=settings.redis_password or None, socket_timeout=2, socket_connect_timeout=2
        )
        registry = ComponentRegistry(
            probe_timeout_s=settings.health_probe_timeout_s, retry_after_s=settings.retry_after_s
        )
        registry.add("redis", _redis_probe(redis))
        license_client = LicenseClient(
            settings.license_proxy_url,
            mode=settings.effective_license_mode,
            refresh_interval_s=settings.license_refresh_interval_s,
            timeout_s=settings.license_proxy_timeout_s,
            outbox_max=settings.license_usage_outbox_max,
            redis=redis,
            internal_token=settings.internal_token,
        )
        await license_client.start()
        app.state.license = license_client
        registry.add("license", license_client.probe)
        app.state.settings = settings
        app.state.http = http
        app.state.redis = redis
        app.state.components = registry
        tts_limiter = _limiter("tts", settings.tts_max_active, settings.tts_max_waiting, settings)
        tts = start_tts(settings, registry)  # further backends: tts.catalog.add(...)
        app.state.tts = tts
        app.state.speech = SpeechSessions(tts.service, tts_limiter)
        app.state.stream_limiter = _limiter("streams", settings.max_stream_sessions, 0, settings)
        app.state.leases = Leases(redis, registry, retry_after_s=settings.retry_after_s)
        app.state.asr = AsrClient(
            redis, registry, worker_url=settings.asr_url, result_ttl_s=settings.asr_result_ttl_s,
            max_queued=settings.asr_max_queued_jobs, retry_after_s=settings.retry_after_s,
            max_queued_audio_bytes=settings.asr_queued_audio_max_bytes,
            discovery=settings.asr_discovery, internal_token=settings.internal_token,
        )
        registry.add(
            "asr",
            app.state.asr.probe
            if settings.asr_discovery == "registry"
            else http_health_probe(http, f"{settings.asr_url}/health"),
        )
        transcription = TranscriptionService(
            app.state.asr, registry, job_timeout_s=settings.asr_job_timeout_s,
            max_audio_seconds=settings.max_audio_seconds,
            callback_policy=callback_policy(settings.callback_blocked_networks, settings.callback_allowed_networks),
        )
        app.state.transcription = TranscriptionSessions(
            transcription, _limiter("asr", settings.asr_max_active, settings.asr_max_waiting, settings)
        )
        await registry.refresh_all()
        background = [
            asyncio.create_task(registry.run(settings.health_probe_interval_s)),
            asyncio.create_task(app.state.leases.run()),
        ]
        log.info("gateway started", extra={"fields": {"profile": settings.profile, "port": settings.gateway_port}})
        try:
            yield
        finally:
            await cancel_and_wait(background)
            await tts.close()
            await license_client.stop()
            await app.state.asr.aclose()
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Speech appliance",
        version=__version__,
        lifespan=lifespan,
        description="Text-to-speech and speech-to-text on one port.",
    )
    digests = load_key_digests(settings.api_keys, settings.api_keys_file)
    if not digests:
        log.warning("NO API KEYS CONFIGURED: anyone who reaches this port can use the API (set API_KEYS)")
    # Added innermost first: requests pass RequestId -> Metrics -> Access -> License -> BodyLimit ->
    # BodyTimeout -> SessionLimit -> routes (License inside RequestId so usage records carry the
    # request id; a body over its cap by Content-Length is refused before it takes a session).
    app.add_middleware(SessionLimitMiddleware)  # innermost: only admitted, licensed sessions count
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_read_timeout_s)
    app.add_middleware(BodyLimitMiddleware, caps={
        Body.JSON: settings.max_json_bytes, Body.REFERENCE: settings.max_reference_bytes,
        Body.UPLOAD: settings.max_upload_bytes,
    })
    app.add_middleware(LicenseMiddleware)
    app.add_middleware(
        AccessMiddleware,
        digests=digests,
        metrics_open=not settings.metrics_require_key,
        defaults=KeyLimits(
            max_concurrent=settings.key_max_concurrent, requests_per_minute=settings.rate_limit_per_minute
        ),
        per_key=settings.api_key_limits,
    )
    unknown = set(settings.api_key_limits) - {key_id(d) for d in digests}
    if unknown:
        log.warning("API_KEY_LIMITS names keys that are not configured", extra={"fields": {"key_ids": sorted(unknown)}})
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.state.auth_enabled = bool(digests)
    app.state.socket_limits = SocketLimits(settings.ws_idle_timeout_s, settings.ws_max_session_s)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(ops_router)
    for router in ROUTERS:
        app.include_router(router)
    if settings.playground_enabled:
        install_playground(app)
    return app
