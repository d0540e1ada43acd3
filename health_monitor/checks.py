"""One liveness check per supervised program: does it answer at all, in time?

Liveness, not readiness: a worker still loading its model answers 503 "starting" and is alive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis

from .settings import MonitorSettings

Check = Callable[[], Awaitable[None]]  # raises when the program does not answer


def _http_check(client: httpx.AsyncClient, url: str) -> Check:
    async def check() -> None:
        response = await client.get(url)
        if response.status_code >= 500 and response.status_code != 503:
            raise RuntimeError(f"HTTP {response.status_code}")

    return check


def _redis_check(client: aioredis.Redis) -> Check:
    async def check() -> None:
        await client.ping()

    return check


def build_checks(
    settings: MonitorSettings, http: httpx.AsyncClient, redis: aioredis.Redis
) -> dict[str, Check]:
    """Checks keyed by supervisord program name."""
    return {
        "redis": _redis_check(redis),
        "vllm": _http_check(http, f"{settings.tts_llm_base_url.rstrip('/')}/health"),
        "asr_worker": _http_check(http, f"http://{settings.asr_host}:{settings.asr_port}/health"),
        "license_proxy": _http_check(
            http, f"http://{settings.license_proxy_host}:{settings.license_proxy_port}/health"
        ),
        "gateway": _http_check(http, f"http://127.0.0.1:{settings.gateway_port}/health/live"),
    }
