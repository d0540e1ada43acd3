"""scripts/start.sh in a split role: one program in the foreground, its own health endpoints, a
graceful stop on SIGTERM; an unknown role is refused with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import REPO, free_port
from tests.support.split import start_role, wait_ready


def test_license_proxy_role_runs_alone_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proxy = start_role(
        "license-proxy",
        port,
        tmp_path / "license.log",
        {"LICENSE_PROXY_PORT": str(port), "LICENSE_MODE": "disabled", "STATE_DIR": str(tmp_path / "state")},
    )
    try:
        wait_ready(proxy, "/health", "license proxy role", timeout_s=30)
        assert httpx.get(f"{proxy.url}/health", timeout=5).json()["mode"] == "disabled"
        # exec'd by start.sh: the pid is the program itself, no supervisord and no other program.
        cmdline = Path(f"/proc/{proxy.process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"license_proxy" in cmdline and not any(b"supervisord" in part for part in cmdline)
        assert (tmp_path / "state").is_dir()
        proxy.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -15).
        assert proxy.process.wait(15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in proxy.log()
    finally:
        proxy.kill()


def test_unknown_role_is_refused() -> None:
    out = subprocess.run(
        [str(REPO / "scripts" / "start.sh")],
        env={**os.environ, "PYTHON": sys.executable, "APPLIANCE_ROLE": "worker"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "APPLIANCE_ROLE=worker is not a role" in out.stderr
