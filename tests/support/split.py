"""The appliance in split roles: each program started through `scripts/start.sh` with its
APPLIANCE_ROLE, as its own process, without supervisord (as a Kubernetes pod or compose service runs
it). Used by the scale-out test and bench/asr_scale.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import REPO, ServiceProcess, free_port, wait_until


def start_role(role: str, port: int, log_path: Path, env: dict[str, str]) -> ServiceProcess:
    """`APPLIANCE_ROLE=role scripts/start.sh`; start.sh execs the program, so the pid is its own."""
    process = subprocess.Popen(
        [str(REPO / "scripts" / "start.sh")],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable, "APPLIANCE_ROLE": role, **env},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return ServiceProcess(process, port, log_path)


def wait_ready(process: ServiceProcess, ready: str, what: str, timeout_s: float = 120) -> None:
    def ok() -> bool:
        if process.process.poll() is not None:
            raise AssertionError(f"{what} exited: {process.log()[-3000:]}")
        try:
            response = httpx.get(f"{process.url}{ready}", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    try:
        wait_until(ok, timeout_s, what)
    except TimeoutError:
        process.kill()
        raise AssertionError(process.log()[-3000:]) from None


def split_worker(redis_url: str, log_dir: Path, name: str, **env: str) -> ServiceProcess:
    """An ASR worker in the asr-worker role, announced in the registry; it is still loading when this
    returns (start several, then `wait_ready(worker, "/health", ...)` each)."""
    port = free_port()
    worker = start_role(
        "asr-worker",
        port,
        log_dir / f"{name}.log",
        {
            "ASR_PORT": str(port),
            "REDIS_URL": redis_url,
            "ASR_DISCOVERY": "registry",
            "ASR_CONSUMER_NAME": name,
            "ASR_CPU_THREADS": "1",
            "ASR_HEARTBEAT_S": "0.5",
            # test receivers listen on loopback
            "CALLBACK_BLOCKED_NETWORKS": "169.254.0.0/16",
            "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
            **env,
        },
    )
    return worker


def split_gateway(redis_url: str, log_dir: Path, name: str, **env: str) -> ServiceProcess:
    """A gateway in the gateway role that finds its ASR workers in the registry; returns once it
    sees at least one ready worker. No TTS voice (this is about speech-to-text)."""
    port = free_port()
    gateway = start_role(
        "gateway",
        port,
        log_dir / f"{name}.log",
        {
            "PROFILE": "cpu",
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "REDIS_URL": redis_url,
            "ASR_DISCOVERY": "registry",
            "TTS_PIPER_ENABLED": "false",
            "LICENSE_MODE": "disabled",
            "LICENSE_PROXY_PORT": str(free_port()),
            "HEALTH_PROBE_INTERVAL_S": "0.5",
            "CALLBACK_BLOCKED_NETWORKS": "169.254.0.0/16",
            "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
            **env,
        },
    )
    wait_ready(gateway, "/health/live", f"gateway {name}")

    def asr_ready() -> bool:
        body = httpx.get(f"{gateway.url}/health", timeout=2).json()
        return bool(body["components"]["asr"]["state"] == "ready")

    wait_until(asr_ready, 30, f"gateway {name} to see a ready ASR worker")
    return gateway
