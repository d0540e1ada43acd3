"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from common import asr_jobs as q
from common.metrics import ASR_QUEUE, COMPONENT_READY, LICENSE_GRACE, LICENSE_VALID, MONITOR_RESTARTS
from common.states import RESTARTS_KEY

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
