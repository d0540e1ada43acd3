"""Helpers for tests that run real processes: free ports, waiting for health, the supervisord stack."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import redis
import uvicorn

from health_monitor.supervisor_rpc import SupervisorRpc

REPO = Path(__file__).resolve().parents[2]
REDIS_DATABASES = 64  # the test redis-server's --databases


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")


async def until(predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float, what: str) -> None:
    """wait_until for async tests: polls without blocking the event loop; `predicate` may be async."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = predicate()
        if await done if inspect.isawaitable(done) else done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def wait_for_redis(client: redis.Redis, what: str, timeout_s: float = 10) -> None:
    """Until the redis-server behind `client` answers a PING (it is starting)."""

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:  # not listening yet (or, with TLS, not handshaking yet)
            return False

    wait_until(answers, timeout_s, what)


class RedisServer:
    """A real redis-server on a free loopback port, its files and log in `workdir`. As a context manager
    it starts and waits for a PING, then stops; start() again after stop() brings it back on the same
    port, empty. `args` come after the defaults and win over them (a later option replaces an earlier
    one): more databases, a password, TLS with `--port 0 --tls-port PORT`. `client_options` are what a
    client then needs for that PING (password, ssl, ssl_ca_certs)."""

    def __init__(
        self, workdir: Path, *args: str, port: int | None = None, client_options: Mapping[str, Any] | None = None
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.port = port or free_port()
        self.client_options = dict(client_options or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return self.database(0)

    def database(self, index: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{index}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis-server.log"

    def start(self, timeout_s: float = 10) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/install.sh installs it)")
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.workdir), "--save", "",
             *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, **self.client_options)
        try:
            wait_for_redis(client, f"redis-server on port {self.port}", timeout_s)
        except TimeoutError as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise TimeoutError(f"{exc}; its log ({self.log_path}):\n{tail}") from None
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def http_status(url: str, timeout_s: float = 2.0) -> int | None:
    try:
        return httpx.get(url, timeout=timeout_s).status_code
    except httpx.HTTPError:
        return None


_databases = itertools.count(1)  # database 0 is the session's shared one


def own_database(redis_url: str) -> str:
    """The session's Redis server with a database no other test uses. Tests that start their own ASR
    worker need one: the job stream's consumer group hands a job to any worker reading that stream."""
    index = next(_databases)
    if index >= REDIS_DATABASES:
        raise RuntimeError(f"more than {REDIS_DATABASES - 1} isolated databases: raise REDIS_DATABASES")
    return f"{redis_url.rsplit('/', 1)[0]}/{index}"


def voice_ready(url: str, voice_id: str = "en_us_joe", api_key: str | None = None) -> bool:
    """Whether the gateway at url lists the voice as available (the Piper voice has loaded)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        voices = httpx.get(f"{url}/v1/voices", timeout=2, headers=headers).json()["voices"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return any(v["id"] == voice_id and v["available"] for v in voices)


class ServerThread:
    """A real uvicorn serving an app in-process on a free port (HTTP and WebSocket)."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on", ws="websockets-sansio"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "in-process server")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class ServiceProcess:
    """One of the appliance's programs run on its own (`python -m MODULE`), outside supervisord."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def spawn(module: str, port: int, log_path: Path, env: dict[str, str]) -> ServiceProcess:
    """Start `python -m module` from the repo root with `env` over this environment, output to log_path."""
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return ServiceProcess(process, port, log_path)


@dataclass
class Stack:
    """The real appliance under the real supervisord, CPU profile, on free ports in a temp dir."""

    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @classmethod
    def create(cls, data_dir: Path, **overrides: str) -> Stack:
        ports = {name: free_port() for name in ("gateway", "asr", "license", "redis")}
        env = {
            **os.environ,
            "PROFILE": "cpu",
            "PYTHON": sys.executable,
            "DATA_DIR": str(data_dir),
            "GATEWAY_PORT": str(ports["gateway"]),
            "ASR_PORT": str(ports["asr"]),
            "LICENSE_PROXY_PORT": str(ports["license"]),
            "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
            "MONITOR_INTERVAL_S": "1",
            "MONITOR_PROBE_TIMEOUT_S": "1",
            "MONITOR_FAILURES_BEFORE_RESTART": "3",
            # Long on purpose: the grace only covers a program until its first healthy check, so a slow
            # machine gets all the time it needs to start, and a hang after that is still caught at once.
            "MONITOR_STARTUP_GRACE_S": "120",
            "MONITOR_SUMMARY_INTERVAL_S": "2",
            "DRAIN_TIMEOUT_S": "5",
            **overrides,
        }
        return cls(data_dir=data_dir, env=env, ports=ports)

    def start(self, ready_timeout_s: float = 90) -> None:
        self.process = subprocess.Popen(
            [str(REPO / "scripts" / "start.sh")],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: http_status(f"{self.url}/health?capability=all") == 200, ready_timeout_s, "every capability"
            )
        except TimeoutError:
            self.stop()
            raise

    def rpc(self) -> SupervisorRpc:
        return SupervisorRpc(str(self.data_dir / "run" / "supervisor.sock"))

    def info(self, program: str) -> dict[str, Any]:
        """supervisord's view of one program (pid, start time, state)."""
        return next(p for p in self.rpc().processes() if p["name"] == program)
    def supervisorctl(self, *args: str) -> str:
        sock = self.data_dir / "run" / "supervisor.sock"
        out = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-s", f"unix://{sock}", *args],
            capture_output=True,
            text=True,
            timeout=30,
            # supervisorctl also reads ./supervisord.conf, whose serverurl needs RUN_DIR to expand.
            env={**self.env, "RUN_DIR": str(self.data_dir / "run")},
        )
        return out.stdout

    def pid(self, program: str) -> int:
        """The program's pid (0 while it is not running)."""
        return int(self.info(program)["pid"])

    def log(self, program: str) -> str:
        path = self.data_dir / "logs" / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout_s: float = 60) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)
