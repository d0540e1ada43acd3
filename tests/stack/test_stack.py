"""The real appliance under the real supervisord (CPU profile): start-up, crashes, hangs, shutdown."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
import redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support import Stack, http_status, wait_until

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purposes
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_health_is_ready_with_every_component_and_program(stack: Stack) -> None:
    body = httpx.get(f"{stack.url}/health").json()
    assert body["status"] == "ready"
    assert {name: c["state"] for name, c in body["components"].items()} == {
        "redis": "ready",
        "asr": "ready",
        "license": "disabled",  # cpu profile default: unlicensed, and /health says so
        "tts": "ready",
        "svara": "disabled",  # cpu profile: no vLLM
    }
    assert body["components"]["asr"]["model"] == "tiny.en"
    wait_until(lambda: "programs" in httpx.get(f"{stack.url}/health").json(), 15, "monitor to publish")
    programs = httpx.get(f"{stack.url}/health").json()["programs"]
    assert programs["vllm"]["supervisor_state"] == "stopped"  # cpu profile
    assert programs["gateway"]["supervisor_state"] == "running"
    # the monitor's periodic one-line summary (every 2 s here, 60 s by default)
    def healthy_summary() -> bool:
        lines = [line for line in stack.log("health_monitor").splitlines() if '"msg": "status ' in line]
        return any(all(part in line for part in ("asr_worker=ok", "gateway=ok", "vllm=stopped")) for line in lines)

    wait_until(healthy_summary, 15, "a status summary line with every program")


def test_internal_services_want_credentials_made_for_this_start(stack: Stack) -> None:
    """start.sh made a Redis password and an internal token (none was given); Redis, the worker and
    the license proxy refuse whoever lacks them; no log holds them (README "Security")."""
    environ = Path(f"/proc/{stack.pid('gateway')}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    password, token = env["REDIS_PASSWORD"], env["INTERNAL_TOKEN"]
    assert len(password) >= 32 and len(token) >= 32
    assert "REDIS_PASSWORD" not in stack.env and "INTERNAL_TOKEN" not in stack.env
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=stack.ports["redis"]).ping()
    db = redis.Redis(port=stack.ports["redis"], password=password, decode_responses=True)
    assert db.config_get("maxmemory")["maxmemory"] == str(2 * 1024**3)  # REDIS_MAXMEMORY's default
    assert db.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    proxy = f"http://127.0.0.1:{stack.ports['license']}/v1/license"
    assert httpx.get(proxy, timeout=5).status_code == 401
    assert httpx.get(proxy, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    with pytest.raises(InvalidStatus):
        with connect(f"ws://127.0.0.1:{stack.ports['asr']}/v1/stream", open_timeout=5):
            pass
    logs = "".join(path.read_text(errors="replace") for path in (stack.data_dir / "logs").glob("*.log"))
    assert logs and password not in logs and token not in logs


def test_crashed_asr_worker_is_restarted_by_supervisord(stack: Stack) -> None:
    old_pid = stack.pid("asr_worker")
    os.kill(old_pid, signal.SIGKILL)
    # the gateway notices and says which capability and component are missing; TTS stays in service
    asr_ready = f"{stack.url}/health?capability=asr"
    wait_until(lambda: http_status(asr_ready) == 503, 15, "/health to report ASR down")
    health = httpx.get(f"{stack.url}/health")
    body = health.json()
    if body["components"]["asr"]["state"] != "ready":  # (supervisord may have restarted it already)
        assert health.status_code == 200 and body["status"] == "degraded" and body["degraded"] == ["asr"]
        assert body["components"]["asr"]["state"] in ("down", "starting")
        assert http_status(f"{stack.url}/health?capability=tts") == 200
    wait_until(lambda: http_status(f"{stack.url}/health?capability=all") == 200, 60, "/health back to ready")
    assert stack.pid("asr_worker") not in (0, old_pid)


def test_hung_license_proxy_is_restarted_by_the_health_monitor(stack: Stack) -> None:
    # A fresh proxy, well inside its start-up grace (120 s here). The grace ends at the first healthy
    # check, so one that came up and then hangs is replaced at once, even in its first minute.
    stack.supervisorctl("restart", "license_proxy")
    hung_pid = stack.pid("license_proxy")

    def seen_healthy() -> bool:
        state = httpx.get(f"{stack.url}/health").json().get("programs", {}).get("license_proxy", {})
        return bool(state.get("pid") == hung_pid and state.get("healthy"))

    wait_until(seen_healthy, 30, "the monitor to see the proxy healthy")
    os.kill(hung_pid, signal.SIGSTOP)  # hung, not dead: supervisord still sees it RUNNING
    try:
        wait_until(lambda: stack.pid("license_proxy") not in (0, hung_pid), 45, "the monitor to restart it")
    finally:
        if _alive(hung_pid):
            os.kill(hung_pid, signal.SIGCONT)
    assert not _alive(hung_pid)
    assert "restarting hung program" in stack.log("health_monitor")
    wait_until(lambda: http_status(f"{stack.url}/health?capability=all") == 200, 30, "/health back to ready")

    def restart_published() -> bool:
        programs = httpx.get(f"{stack.url}/health").json().get("programs", {})
        return bool(programs.get("license_proxy", {}).get("restarts_by_monitor", 0) >= 1)

    wait_until(restart_published, 15, "the restart to show in /health")
    assert 'health_monitor_restarts{program="license_proxy"} 1.0' in httpx.get(f"{stack.url}/metrics").text


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    own = Stack.create(tmp_path)
    own.start()
    children = [own.pid(name) for name in ("redis", "asr_worker", "license_proxy", "gateway", "health_monitor")]
    assert all(pid > 0 and _alive(pid) for pid in children)
    assert own.process is not None
    os.killpg(own.process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    assert own.process.wait(60) == 0
    assert [pid for pid in children if _alive(pid)] == []
