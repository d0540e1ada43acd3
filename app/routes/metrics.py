"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from common.states import RESTARTS_KEY

from ..metrics import COMPONENT_READY, MONITOR_RESTARTS

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
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
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
