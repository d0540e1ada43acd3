"""Shared fixtures: a real Redis server, the real supervisord stack, GPU marker handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REDIS_DATABASES, RedisServer, Stack

# Fixtures of the speech-to-text tests (Piper speech, a real ASR worker, an in-process gateway, the
# exported speaker model, a callback receiver), the headless Chromium of the playground tests, and real
# vLLM (CPU build) serving the Svara-shaped test model, started once per session.
pytest_plugins = [
    "tests.support.asr",
    "tests.support.diarization",
    "tests.support.callbacks",
    "tests.support.browser",
    "tests.support.real_vllm",
]


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    with RedisServer(tmp_path_factory.mktemp("redis"), "--databases", str(REDIS_DATABASES)) as server:
        yield server.url


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole appliance under supervisord (CPU profile), shared by the process-level tests.
    Tests that break a program must leave the stack healthy again when they finish."""
    data_dir: Path = tmp_path_factory.mktemp("appliance")
    running = Stack.create(data_dir)
    running.start()
    yield running
    running.stop()


# TTS: the in-process gateway with the real Piper voice (tests/support/tts_gateway.py).
from tests.support.tts_gateway import tts_gateway  # noqa: E402, F401
