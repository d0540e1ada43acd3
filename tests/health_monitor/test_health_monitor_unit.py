"""The monitor's decision rules (grace, consecutive failures) on a recorded supervisord view.

The real behaviour against real supervisord is in test_stack.py; here the RPC object only records
what the monitor asks of it, so each rule is checked on its own.
"""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from health_monitor.monitor import HealthMonitor
from health_monitor.settings import MonitorSettings


class RecordingRpc:
    def __init__(self, started_ago_s: float) -> None:
        self.start = time.time() - started_ago_s
        self.restarted: list[str] = []

    def processes(self) -> list[dict]:
        return [{"name": "license_proxy", "statename": "RUNNING", "pid": 42, "start": self.start}]

    def restart_hung(self, name: str, timeout_s: float = 15.0) -> None:
        self.restarted.append(name)


async def _failing_check() -> None:
    raise TimeoutError("no answer")


async def _rounds(rpc: RecordingRpc, redis_url: str, rounds: int) -> HealthMonitor:
    settings = MonitorSettings(monitor_failures_before_restart=3, monitor_startup_grace_s=30)
    redis = aioredis.from_url(redis_url)
    monitor = HealthMonitor(settings, rpc, {"license_proxy": _failing_check}, redis)  # type: ignore[arg-type]
    for _ in range(rounds):
        await monitor.round()
    await redis.aclose()
    return monitor


@pytest.mark.parametrize(("rounds", "restarts"), [(2, 0), (3, 1), (6, 2)])
async def test_restarts_after_consecutive_failures(redis_url: str, rounds: int, restarts: int) -> None:
    rpc = RecordingRpc(started_ago_s=120)
    monitor = await _rounds(rpc, redis_url, rounds)
    assert rpc.restarted == ["license_proxy"] * restarts
    assert monitor.programs["license_proxy"].restarts == restarts


async def test_no_restart_inside_start_up_grace(redis_url: str) -> None:
    rpc = RecordingRpc(started_ago_s=5)
    monitor = await _rounds(rpc, redis_url, 10)
    assert rpc.restarted == []
    assert "license_proxy=failing(0)" in monitor.summary(rpc.processes())
