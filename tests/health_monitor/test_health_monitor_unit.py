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
    def __init__(self, started_ago_s: float, name: str = "license_proxy") -> None:
        self.name = name
        self.start = time.time() - started_ago_s
        self.pid = 42
        self.restarted: list[str] = []

    def processes(self) -> list[dict]:
        return [{"name": self.name, "statename": "RUNNING", "pid": self.pid, "start": self.start}]

    def restart_hung(self, name: str, timeout_s: float = 15.0) -> None:
        self.restarted.append(name)
        self.pid += 1  # what supervisord does: a fresh process, started just now
        self.start = time.time()


class SwitchableCheck:
    """A check that answers or fails as the test says."""

    def __init__(self) -> None:
        self.answers = True

    async def __call__(self) -> None:
        if not self.answers:
            raise TimeoutError("no answer")


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


# Six rounds restart once: the replacement is a new process, inside its own start-up grace.
@pytest.mark.parametrize(("rounds", "restarts"), [(2, 0), (3, 1), (6, 1)])
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


async def _monitor(rpc: RecordingRpc, redis: aioredis.Redis, check: SwitchableCheck) -> HealthMonitor:
    settings = MonitorSettings(monitor_failures_before_restart=3, monitor_startup_grace_s=30,
                               monitor_vllm_startup_grace_s=900)
    return HealthMonitor(settings, rpc, {rpc.name: check}, redis)  # type: ignore[arg-type]


async def test_grace_ends_at_the_first_healthy_check(redis_url: str) -> None:
    """startupProbe semantics: a young program that answered once and then hangs is replaced."""
    rpc, check, redis = RecordingRpc(started_ago_s=5), SwitchableCheck(), aioredis.from_url(redis_url)
    monitor = await _monitor(rpc, redis, check)
    await monitor.round()  # came up
    check.answers = False  # then hangs, still well inside the 30 s grace
    for _ in range(3):
        await monitor.round()
    assert rpc.restarted == ["license_proxy"]
    # The replacement is a new process: it gets its own grace until it answers.
    for _ in range(10):
        await monitor.round()
    assert rpc.restarted == ["license_proxy"]
    check.answers = True
    await monitor.round()
    check.answers = False
    for _ in range(3):
        await monitor.round()
    assert rpc.restarted == ["license_proxy"] * 2
    await redis.aclose()


async def test_vllm_keeps_its_long_grace_until_it_answers(redis_url: str) -> None:
    """Loading a model takes minutes and vLLM answers nothing meanwhile: its grace still covers that."""
    rpc = RecordingRpc(started_ago_s=300, name="vllm")
    check, redis = SwitchableCheck(), aioredis.from_url(redis_url)
    check.answers = False
    monitor = await _monitor(rpc, redis, check)
    for _ in range(10):
        await monitor.round()
    assert rpc.restarted == []
    check.answers = True
    await monitor.round()  # loaded
    check.answers = False
    for _ in range(3):
        await monitor.round()
    assert rpc.restarted == ["vllm"]
    await redis.aclose()
