"""The proxy's API for the gateway (loopback only): license status and usage intake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from common.aio import cancel_and_wait
from common.internal_auth import InternalTokenMiddleware
from common.license_api import STATUS_PATH, USAGE_PATH, LicenseStatus, UsageAccepted, UsagePost, utc_day

from . import __version__
from .online import OnlineValidator
from .reporter import UsageReporter
from .settings import LicenseProxySettings
from .spool import SpoolFull, UsageSpool
from .state import LicenseState, instance_id

log = logging.getLogger(__name__)

_WARN_EVERY_S = 60.0


# Probes carry no token; and /health is the proxy's liveness too, served while a drain lets calls finish.
HEALTH_PATHS = ("/health",)

def create_app(settings: LicenseProxySettings | None = None) -> FastAPI:
    settings = settings or LicenseProxySettings()
    mode = settings.mode

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        spool = UsageSpool(settings.state_dir / "usage" / "spool.sqlite3", settings.usage_spool_max_records)
        http = httpx.AsyncClient(timeout=settings.license_http_timeout_s)
        tasks: list[asyncio.Task[None]] = []
        online: OnlineValidator | None = None
        reporter: UsageReporter | None = None
        if mode == "online":
            ident = instance_id(settings)
            online = OnlineValidator(settings, http, ident)
            reporter = UsageReporter(settings, http, spool, ident)
            tasks = [asyncio.create_task(online.run()), asyncio.create_task(reporter.run())]
        elif mode == "disabled":
            log.warning("license checks are disabled (LICENSE_MODE=disabled): this appliance runs unlicensed")
        app.state.spool = spool
        app.state.license = LicenseState(settings, spool, online)
        app.state.reporter = reporter
        app.state.warned_at = 0.0
        app.state.license.status()  # logs the starting status (offline: the file's verdict)
        log.info("license proxy started", extra={"fields": {"mode": mode, "pending_usage": spool.pending()}})
        try:
            yield
        finally:
            await cancel_and_wait(tasks)
            await http.aclose()
            spool.close()

    app = FastAPI(title="License proxy", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(
        InternalTokenMiddleware, token=settings.internal_token, service="license_proxy", open_paths=HEALTH_PATHS
    )

    @app.get("/health")
    async def health() -> dict[str, object]:
        """200 while the proxy runs; the license verdict rides in the body (the gateway judges it)."""
        verdict = app.state.license.verdict()
        return {
            "status": "ready",
            "version": __version__,
            "mode": mode,
            "license": {"valid": verdict.valid, "code": verdict.code, "reason": verdict.reason},
        }

    @app.get(STATUS_PATH, response_model=LicenseStatus)
    async def license_status() -> LicenseStatus:
        return await asyncio.to_thread(app.state.license.status)

    @app.post(USAGE_PATH, response_model=UsageAccepted, status_code=202)
    async def usage(post: UsagePost) -> UsageAccepted | JSONResponse:
        spool: UsageSpool = app.state.spool
        try:
            accepted, duplicates = await asyncio.to_thread(spool.add, post.records, report=mode == "online")
        except SpoolFull as exc:
            log.error("usage spool full; records refused", extra={"fields": {"records": len(post.records)}})
            return JSONResponse({"error": {"message": str(exc), "code": "spool_full"}}, status_code=507)
        pending = await asyncio.to_thread(spool.pending)
        if pending >= settings.usage_spool_warn_ratio * spool.max_records:
            now = time.monotonic()
            if now - app.state.warned_at > _WARN_EVERY_S:
                app.state.warned_at = now
                log.warning(
                    "usage spool nearly full: the license server has not taken usage for a while",
                    extra={"fields": {"pending": pending, "max": spool.max_records}},
                )
        reporter: UsageReporter | None = app.state.reporter
        if reporter is not None and pending >= settings.usage_batch_size:
            reporter.wake.set()
        today = await asyncio.to_thread(spool.usage_on, utc_day())
        return UsageAccepted(accepted=accepted, duplicates=duplicates, usage_today=today)

    return app
