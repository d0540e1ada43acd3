"""Real processes for the license tests: the reference license server and the license proxy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import REPO, free_port, http_status, wait_until

SERVER_SCRIPT = REPO / "scripts" / "license_server.py"
LICENSE_KEY = "KEY-test-0001"


def license_terms(**overrides: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "license_id": "LIC-1",
        "customer": "Test Customer",
        "expires_at": time.time() + 30 * 86400,
        "features": ["tts", "asr", "streaming"],
        "quotas": {"audio_hours_per_day": 10, "concurrent_streams": 2},
    }
    terms.update(overrides)
    return terms


def run_server_cli(*args: str) -> None:
    subprocess.run([sys.executable, str(SERVER_SCRIPT), *args], check=True, capture_output=True)


@dataclass
class LicenseServer:
    """scripts/license_server.py on a fixed port, so it can go down and come back at the same URL."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.licenses = self.workdir / "licenses.json"
        self.capture = self.workdir / "capture.jsonl"
        if not self.licenses.exists():
            self.set_licenses({LICENSE_KEY: license_terms()})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_licenses(self, licenses: dict[str, dict[str, Any]]) -> None:
        self.licenses.write_text(json.dumps(licenses))

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(SERVER_SCRIPT),
                "serve",
                "--port",
                str(self.port),
                "--data",
                str(self.workdir / "data"),
                "--licenses",
                str(self.licenses),
                "--capture",
                str(self.capture),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: http_status(f"{self.url}/admin/usage") == 200, 20, "license server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def usage(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/admin/usage", timeout=5).json()

    def inject(self, **faults: int) -> None:
        httpx.post(f"{self.url}/admin/faults", json=faults, timeout=5).raise_for_status()


@dataclass
class LicenseProxy:
    """`python -m license_proxy` as supervisord runs it, on a free port, with its own STATE_DIR."""

    state_dir: Path
    env_overrides: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path = self.state_dir.parent / f"proxy-{self.port}.log"
        env = {
            **os.environ,
            "LICENSE_PROXY_PORT": str(self.port),
            "STATE_DIR": str(self.state_dir),
            "LICENSE_KEY": LICENSE_KEY,
            "LICENSE_RETRY_MIN_S": "0.2",
            "LICENSE_RETRY_MAX_S": "1",
            "LICENSE_HTTP_TIMEOUT_S": "2",
            "USAGE_REPORT_INTERVAL_S": "0.3",
            **self.env_overrides,
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "license_proxy"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: http_status(f"{self.url}/health") == 200, 20, "license proxy")

    def kill(self) -> None:
        """kill -9: no shutdown handler runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/license", timeout=5).json()

    def wait_status(self, predicate: Any, timeout_s: float = 15) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ok() -> bool:
            seen.update(self.status())
            return bool(predicate(seen))

        try:
            wait_until(ok, timeout_s, "license status")
        except TimeoutError as exc:
            raise AssertionError(f"license status never matched; last: {seen}") from exc
        return seen

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


def record(**overrides: object) -> dict[str, object]:
    """A usage record as the gateway sends it (common.license_api.UsageRecord), with `overrides`."""
    body: dict[str, object] = {
        "record_id": uuid.uuid4().hex,
        "request_id": "r1",
        "ts": time.time(),
        "route": "/v1/speak",
        "method": "POST",
        "features": ["tts"],
        "status": 200,
        "duration_ms": 12.5,
        "audio_seconds": 1.5,
        "characters": 20,
    }
    body.update(overrides)
    return body
