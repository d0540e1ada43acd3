"""The operator's routes: liveness and readiness (`/health/live`, `/health`) and Prometheus
(`/metrics`). Not licensed, not part of any API surface."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app import __version__
from app.components import CapabilityState
from app.errors import InvalidParameter
from common import asr_jobs as q
from common.metrics import ASR_QUEUE, COMPONENT_READY, LICENSE_GRACE, LICENSE_VALID, MONITOR_RESTARTS
from common.states import PROGRAMS_KEY, RESTARTS_KEY

router = APIRouter()
log = logging.getLogger(__name__)


@router.get("/health/live", tags=["health"])
async def live() -> dict[str, str]:
    """The gateway process answers."""
    return {"status": "alive"}


@router.get("/health", tags=["health"])
async def ready(request: Request, capability: str | None = None) -> JSONResponse:
    """Readiness per capability (`tts`, `asr`; app.components.CAPABILITIES): 200 while at least one is
    ready, so an outage of one does not take the other out of service; `?capability=tts` (or `asr`)
    asks for that one, `?capability=all` for every enabled one; else 503 + Retry-After. The body names
    each capability's state and the degraded ones. Versions, models and component and program states
    need a valid API key when keys are configured (probes need none)."""
    registry = request.app.state.components
    settings = request.app.state.settings
    capabilities = registry.capabilities()
    enabled = [name for name, c in capabilities.items() if c.state is not CapabilityState.DISABLED]
    serving = [name for name in enabled if capabilities[name].state is CapabilityState.READY]
    degraded = [name for name in enabled if name not in serving]
    if capability is None:
        ok = bool(serving)
    elif capability == "all":
        ok = bool(serving) and not degraded
    elif capability in capabilities:
        ok = capability in serving
    else:
        raise InvalidParameter(
            f"unknown capability {capability!r}; use {', '.join(capabilities)} or all", param="capability"
        )
    auth_enabled = getattr(request.app.state, "auth_enabled", False)
    details = not auth_enabled or getattr(request.state, "caller", None) is not None
    body: dict[str, Any] = {
        "status": "ready" if serving and not degraded else "degraded" if serving else "not_ready",
        "capabilities": {
            name: c.as_dict() if details else {"state": c.state.value} for name, c in capabilities.items()
        },
        "degraded": degraded,
        "auth": "api_keys" if auth_enabled else "disabled: no API keys configured",
    }
    if details:
        body |= {"version": __version__, "profile": settings.profile, "components": registry.snapshot()}
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


@router.get("/metrics", response_class=Response, tags=["metrics"])
async def metrics(request: Request) -> Response:
    registry = request.app.state.components
    for name, component in registry.snapshot().items():
        COMPONENT_READY.labels(name).set(1 if component["state"] == "ready" else 0)
    if registry.is_ready("redis"):
        try:
            restarts = await request.app.state.redis.hgetall(RESTARTS_KEY)
        except Exception:  # Redis went away between probes: the rest of the metrics still answer
            restarts = {}
        for program, count in restarts.items():
            MONITOR_RESTARTS.labels(program.decode()).set(int(count))
        await _queue_depth(request.app.state.redis)
    _license(request.app.state.license)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _queue_depth(redis) -> None:  # type: ignore[no-untyped-def]
    """Jobs waiting for a worker (not yet delivered) and held by a worker (delivered, not acked)."""
    try:
        groups = {g["name"].decode(): g for g in await redis.xinfo_groups(q.STREAM)}
    except Exception:  # no stream yet (nothing queued so far) or Redis went away: leave the last values
        return
    group = groups.get(q.GROUP)
    if group is None:
        return
    ASR_QUEUE.labels("waiting").set(int(group.get("lag") or 0))
    ASR_QUEUE.labels("processing").set(int(group.get("pending") or 0))


def _license(client) -> None:  # type: ignore[no-untyped-def]
    view = client.status
    LICENSE_VALID.set(1 if client.mode == "disabled" or (view is not None and view.valid) else 0)
    LICENSE_GRACE.set(float(view.grace_remaining_s or 0.0) if view is not None else 0.0)
