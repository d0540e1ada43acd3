"""A gateway as its own process (`python -m app`), for the tests that signal or starve it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import ServiceProcess, free_port, spawn, voice_ready, wait_until

GatewayProcess = ServiceProcess  # the gateway as its own process


@contextmanager
def gateway_process(redis_url: str, log_dir: Path, **env: str) -> Iterator[GatewayProcess]:
    """The real gateway process on free ports, CPU profile, with the Piper voice loaded."""
    port = free_port()
    log_path = log_dir / f"gateway-{port}.log"
    gateway = spawn(
        "app",
        port,
        log_path,
        {
            "PROFILE": "cpu",
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "REDIS_URL": redis_url,
            "ASR_PORT": str(free_port()),
            "LICENSE_PROXY_PORT": str(free_port()),
            "HEALTH_PROBE_INTERVAL_S": "0.5",
            **env,
        },
    )
    try:
        try:
            key = env.get("API_KEYS", "").split(",")[0] or None
            wait_until(lambda: voice_ready(gateway.url, api_key=key), 90, "the gateway's Piper voice")
        except TimeoutError:
            raise AssertionError(gateway.log()[-3000:]) from None
        yield gateway
    finally:
        gateway.kill()
