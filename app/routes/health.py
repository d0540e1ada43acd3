"""Liveness and readiness."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app import __version__
from common.states import PROGRAMS_KEY

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)



@router.get("/health/live")
async def live() -> dict[str, str]:
    """The gateway process answers."""
    return {"status": "alive"}


@router.get("/health")
async def ready(request: Request) -> JSONResponse:
    """200 when every enabled component is ready, 503 otherwise; the body names each one's state."""
    registry = request.app.state.components
    settings = request.app.state.settings
    ok = registry.all_ready()
    body: dict[str, Any] = {
        "status": "ready" if ok else "not_ready",
        "version": __version__,
        "profile": settings.profile,
        "components": registry.snapshot(),
        "auth": "api_keys" if getattr(request.app.state, "auth_enabled", False) else "disabled: no API keys configured",
    }
    programs = await _monitor_programs(request)
    if programs is not None:
        body["programs"] = programs
    headers = {} if ok else {"Retry-After": str(settings.retry_after_s)}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


async def _monitor_programs(request: Request) -> dict[str, Any] | None:
    """What the health monitor last published (supervisord view); absent when Redis is down."""
    if not request.app.state.components.is_ready("redis"):
        return None
    try:
        raw = await request.app.state.redis.hgetall(PROGRAMS_KEY)
    except Exception:  # Redis went away between probes: health still answers
        return None
    return {k.decode(): json.loads(v) for k, v in raw.items()} or None
