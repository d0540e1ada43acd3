"""The embedded Redis as scripts/start_redis.sh (supervisord's program) starts it: loopback only, a
password nobody can read off the command line, and a memory bound that refuses writes when full and
never evicts what was accepted."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import REPO, free_port, wait_for_redis

PASSWORD = "embedded-redis-test-password"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    (tmp_path / "redis").mkdir()
    port = free_port()
    env = {**os.environ, "STATE_DIR": str(tmp_path), "REDIS_PORT": str(port), "REDIS_PASSWORD": PASSWORD,
           "REDIS_MAXMEMORY": "4mb"}
    process = subprocess.Popen([str(REPO / "scripts" / "start_redis.sh")], env=env, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD)

    wait_for_redis(client, "the embedded redis-server")
    yield process, port
    process.terminate()
    process.wait(10)


def test_loopback_password_and_no_secret_on_the_command_line(embedded: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = embedded
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="wrong").ping()
    client = redis.Redis(port=port, password=PASSWORD, decode_responses=True)
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("appendonly")["appendonly"] == "yes"  # queued jobs survive a restart
    # The script execs redis-server: the pid supervisord signals is Redis itself.
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    assert b"redis-server" in cmdline and PASSWORD.encode() not in cmdline


def test_memory_bound_refuses_writes_and_evicts_nothing(embedded: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = embedded
    client = redis.Redis(port=port, password=PASSWORD)
    assert client.config_get("maxmemory") == {"maxmemory": str(4 * 1024 * 1024)}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    accepted = []
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for n in range(1000):  # 64 KiB each: 64 MiB, far past the bound
            client.set(f"job:{n}:audio", b"\0" * 65536)
            accepted.append(n)
    assert accepted, "nothing fitted at all"
    # Every write that was accepted is still there: a full Redis refuses, it does not evict.
    assert client.exists(*(f"job:{n}:audio" for n in accepted)) == len(accepted)
    client.delete(*(f"job:{n}:audio" for n in accepted[:4]))  # freeing memory makes room again
    client.set("after", b"x")
