"""The monitoring loop: check, count failures, restart hung programs, publish, summarise."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from common.states import PROGRAMS_KEY, RESTARTS_KEY

from .checks import Check, build_checks
from .settings import MonitorSettings
from .supervisor_rpc import SupervisorRpc

log = logging.getLogger(__name__)


@dataclass
class ProgramHealth:
    failures: int = 0
    restarts: int = 0
    healthy: bool | None = None
    last_error: str | None = None
    pid: int = 0
    # Has this pid answered a check yet? The start-up grace covers only the time before that, like a
    # Kubernetes startupProbe: a program that came up and then hangs is replaced at once, even in its
    # first minute.
    came_up: bool = False


class HealthMonitor:
    def __init__(self, settings: MonitorSettings, rpc: SupervisorRpc, checks: dict[str, Check],
                 redis: aioredis.Redis) -> None:
        self.settings = settings
        self.rpc = rpc
        self.checks = checks
        self.redis = redis
        self.programs: dict[str, ProgramHealth] = {}
        self._last_summary = time.monotonic()

    def _in_grace(self, name: str, health: ProgramHealth, uptime_s: float) -> bool:
        """Still starting: not yet answered once, and younger than its grace (vLLM's covers loading)."""
        if health.came_up:
            return False
        if name == "vllm":
            return uptime_s < self.settings.monitor_vllm_startup_grace_s
        return uptime_s < self.settings.monitor_startup_grace_s

    async def _check(self, name: str) -> str | None:
        try:
            await asyncio.wait_for(self.checks[name](), self.settings.monitor_probe_timeout_s)
        except Exception as exc:  # timeout, refused, error answer: all mean "not healthy"
            return f"{type(exc).__name__}: {exc}"[:200]
        return None

    async def round(self) -> None:
        infos = await asyncio.to_thread(self.rpc.processes)
        running = [i for i in infos if i["statename"] == "RUNNING" and i["name"] in self.checks]
        errors = await asyncio.gather(*(self._check(i["name"]) for i in running))
        now = time.time()
        for info, error in zip(running, errors, strict=True):
            name = info["name"]
            health = self.programs.setdefault(name, ProgramHealth())
            if info["pid"] != health.pid:  # a new process: its own start-up, its own grace
                health.pid, health.came_up, health.failures = info["pid"], False, 0
            health.healthy = error is None
            health.last_error = error
            if error is None:
                health.failures = 0
                health.came_up = True
                continue
            if self._in_grace(name, health, now - info["start"]):
                continue
            health.failures += 1
            log.warning("program check failed",
                        extra={"fields": {"program": name, "failures": health.failures, "error": error}})
            if health.failures >= self.settings.monitor_failures_before_restart:
                log.error("restarting hung program", extra={"fields": {"program": name, "pid": info["pid"]}})
                await asyncio.to_thread(self.rpc.restart_hung, name)
                health.failures = 0
                health.restarts += 1
                await self._safe_redis(self.redis.hincrby(RESTARTS_KEY, name, 1))
        await self._publish(infos, now)
        if time.monotonic() - self._last_summary >= self.settings.monitor_summary_interval_s:
            self._last_summary = time.monotonic()
            log.info(self.summary(infos))

    def summary(self, infos: list[dict]) -> str:
        parts = []
        for info in infos:
            health = self.programs.get(info["name"])
            state = info["statename"].lower()
            if health is not None and info["statename"] == "RUNNING":
                state = "ok" if health.healthy else f"failing({health.failures})"
            if health is not None and health.restarts:
                state += f",restarts={health.restarts}"
            parts.append(f"{info['name']}={state}")
        return "status " + " ".join(parts)

    async def _publish(self, infos: list[dict], now: float) -> None:
        mapping = {}
        for info in infos:
            health = self.programs.get(info["name"], ProgramHealth())
            mapping[info["name"]] = json.dumps({
                "supervisor_state": info["statename"].lower(),
                "pid": info["pid"],
                "uptime_s": round(now - info["start"]) if info["statename"] == "RUNNING" else 0,
                # Only what was seen of this very pid: a restarted program is not yet healthy.
                "healthy": health.healthy if health.pid == info["pid"] else None,
                "restarts_by_monitor": health.restarts,
            })
        if not mapping:
            return
        pipe = self.redis.pipeline()
        pipe.hset(PROGRAMS_KEY, mapping=mapping)
        pipe.expire(PROGRAMS_KEY, int(self.settings.monitor_interval_s * 5) + 5)
        await self._safe_redis(pipe.execute())

    async def _safe_redis(self, operation) -> None:  # type: ignore[no-untyped-def]
        try:
            await operation
        except Exception as exc:  # Redis being down must not stop the monitor from restarting things
            log.debug("could not publish to redis", extra={"fields": {"error": str(exc)}})

    async def run(self) -> None:
        log.info("health monitor started")
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("monitor round failed")
            await asyncio.sleep(self.settings.monitor_interval_s)


async def run(settings: MonitorSettings) -> None:
    async with httpx.AsyncClient(timeout=settings.monitor_probe_timeout_s) as http:
        redis = aioredis.from_url(
            settings.redis_url,
            password=settings.redis_password or None,
            socket_timeout=settings.monitor_probe_timeout_s,
            socket_connect_timeout=settings.monitor_probe_timeout_s,
        )
        monitor = HealthMonitor(settings, SupervisorRpc(settings.supervisor_socket),
                                build_checks(settings, http, redis), redis)
        try:
            await monitor.run()
        finally:
            await redis.aclose()
