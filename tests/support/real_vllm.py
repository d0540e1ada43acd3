"""Real vLLM (the CPU build in .venv-vllm) serving the Svara-shaped test model, once per session.

It is started the product's way, by scripts/start_vllm.sh (which picks the CPU build and loads the
frame processor); /health answers after about a minute on two cores.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import REPO, free_port, http_status, wait_until
from tests.support.svara_model import model_dir

SERVED_NAME = "svara"
# The test vLLM requires an API key as the product's does (scripts/start_vllm.sh passes VLLM_API_KEY):
# every Svara test then also proves the gateway's client sends it.
API_KEY = "test-vllm-api-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass
class RealVllm:
    url: str
    model_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus metric from vLLM's /metrics over the series matching labels."""
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            match = re.match(r"^([a-zA-Z_:]+)(\{[^}]*\})? ([0-9.eE+-]+)$", line)
            if not match or match.group(1) != name:
                continue
            series = match.group(2) or ""
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(match.group(3))
        return total

    def tokenize(self, prompt: str, add_special_tokens: bool = False) -> list[int]:
        body = {"model": SERVED_NAME, "prompt": prompt, "add_special_tokens": add_special_tokens}
        response = httpx.post(f"{self.url}/tokenize", json=body, timeout=30)
        response.raise_for_status()
        return list(response.json()["tokens"])


def vllm_env(model: Path, port: int) -> dict[str, str]:
    """What scripts/start_vllm.sh needs to serve the test model on the CPU build."""
    return {
        "VLLM_MODEL": str(model),
        "VLLM_PORT": str(port),
        "VLLM_SERVED_MODEL_NAME": SERVED_NAME,
        "MODELS_DIR": str(model.parent),
        "VLLM_MAX_NUM_SEQS": "8",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_API_KEY": API_KEY,
    }


def start_vllm(log_path: Path, timeout_s: float = 300) -> RealVllm:
    model = model_dir()
    port = free_port()
    process = subprocess.Popen(
        [str(REPO / "scripts" / "start_vllm.sh")],
        cwd=REPO,
        env={**os.environ, **vllm_env(model, port)},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # vLLM's engine runs in child processes: stop the whole group
    )
    server = RealVllm(url=f"http://127.0.0.1:{port}", model_dir=model, log_path=log_path, process=process)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"vLLM exited with {process.returncode}:\n{server.log()[-3000:]}")
        return http_status(f"{server.url}/health") == 200

    wait_until(healthy, timeout_s, "vLLM /health", interval_s=1)
    return server


def stop_vllm(server: RealVllm) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)


@pytest.fixture(scope="session")
def real_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealVllm]:
    """One real vLLM for the whole session (a minute to start), shared by every Svara test."""
    server = start_vllm(tmp_path_factory.mktemp("vllm") / "vllm.log")
    yield server
    stop_vllm(server)
