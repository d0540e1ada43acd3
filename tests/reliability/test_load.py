"""A bounded load test against the real supervisord stack (CPU profile): 16 clients of mixed TTS
(Piper) and ASR (/v1/listen, synchronous and queued with a callback) for about 30 s.

In the middle of it the ASR worker is killed with SIGKILL and the license proxy is hung with
SIGSTOP. Passing means: no answer but 2xx or a deliberate 429/503, no failed connection, the stack
recovers without being restarted, every accepted queued job ends with a result, and the gateway's
memory stops growing: within 25 % of its warm-up figure after the faults, and within 5 % of that
after a second, clean round of load.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import Stack, http_status, wait_until
from tests.support.asr import CALLBACKS_TO_LOOPBACK, LOOPBACK, Speech, piper_speech

pytestmark = pytest.mark.slow

CLIENTS = 16
WARMUP_S = 8
LOAD_S = 30
STEADY_S = 15
DELIBERATE = {429, 503}


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.create(
        tmp_path_factory.mktemp("load"),
        ASR_CLAIM_IDLE_S="4",  # a job held by the killed worker is claimed again after this
        ASR_BEAM_SIZE="1",
        ASR_JOB_TIMEOUT_S="90",
        # a job whose thread gets stuck is left to another worker long before a client's 504
        ASR_JOB_STALL_S="20",
        TTS_MAX_ACTIVE="2",
        TTS_MAX_WAITING="6",
        ASR_MAX_ACTIVE="4",
        ASR_MAX_WAITING="6",
        ENGINE_MAX_WAIT_S="5",
        # the unreachable hook below is on loopback
        CALLBACK_BLOCKED_NETWORKS=CALLBACKS_TO_LOOPBACK,
        CALLBACK_ALLOWED_NETWORKS=LOOPBACK,
    )
    stack.start(ready_timeout_s=120)
    yield stack
    stack.stop()


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)  # jobs whose synchronous wait ended in 504
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[f"{kind} {response.status_code}"] += 1
            ok = response.status_code < 300 or response.status_code in DELIBERATE
            if not ok:
                self.errors.append(f"{kind} {response.status_code}: {response.text[:200]}")
            if response.status_code in DELIBERATE and "Retry-After" not in response.headers:
                self.errors.append(f"{kind} {response.status_code} without Retry-After")
            if response.status_code == 202:
                self.queued.append(response.json()["request_id"])
            if response.status_code == 504 and (late := re.search(r"/v1/listen/(\w+)", response.text)):
                self.timed_out.append(late.group(1))


def _client(url: str, index: int, clip: bytes, stop: threading.Event, tally: Tally) -> None:
    sentences = ["Good morning.", "The meeting starts at nine.", "Please hold the line for a moment."]
    with httpx.Client(base_url=url, timeout=120) as client:
        turn = index
        while not stop.is_set():
            turn += 1
            try:
                if turn % 2 == 0:
                    text = sentences[turn % len(sentences)]
                    tally.record("tts", client.post("/v1/speak", json={"text": text, "voice_id": "en_us_joe"}))
                elif turn % 5 == 1:
                    params = {"callback_url": "http://127.0.0.1:9/unreachable-hook"}
                    tally.record("asr-queued", client.post("/v1/listen", params=params, content=clip))
                else:
                    tally.record("asr", client.post("/v1/listen", content=clip))
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.errors.append(f"{type(exc).__name__}: {exc}")
            if stop.wait(0.05):
                return


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _diagnosis(stack: Stack, job_ids: list[str]) -> str:
    """What the stack did with jobs that timed out: their state a while later, the worker's lines
    about them, and every restart, so a failure on a CI machine explains itself."""
    lines = []
    for job_id in job_ids:
        deadline = time.monotonic() + 60
        while (state := httpx.get(f"{stack.url}/v1/listen/{job_id}", timeout=10).json()).get("status") not in (
            "done",
            "failed",
        ) and time.monotonic() < deadline:
            time.sleep(1)
        lines.append(f"{job_id} later: {state.get('status')} {state.get('error', '')}")
        lines += [line for line in stack.log("asr_worker").splitlines() if job_id in line]
    lines += [line for line in stack.log("supervisord").splitlines() if "exited" in line]
    lines += [line for line in stack.log("health_monitor").splitlines() if "restarting" in line]
    return "\n".join(lines)


def _run(url: str, clip: bytes, seconds: float, tally: Tally, during: list[tuple[float, object]]) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=_client, args=(url, i, clip, stop, tally)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    for at, action in during:
        time.sleep(max(0.0, started + at - time.monotonic()))
        action()  # type: ignore[operator]
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(150)


def test_load_with_worker_kill_and_license_hang(load_stack: Stack) -> None:
    clip: Speech = piper_speech(["The quick brown fox jumps over the lazy dog."], pause_s=0.2)
    gateway_pid = load_stack.pid("gateway")
    warm = Tally()
    _run(load_stack.url, clip.wav(), WARMUP_S, warm, [])
    assert not warm.errors, (warm.errors[:5], _diagnosis(load_stack, warm.timed_out))
    rss_warm = _rss_kb(gateway_pid)

    worker_pid = load_stack.pid("asr_worker")
    proxy_pid = load_stack.pid("license_proxy")
    hung: list[int] = []

    def kill_worker() -> None:
        os.kill(worker_pid, signal.SIGKILL)

    def hang_proxy() -> None:
        os.kill(proxy_pid, signal.SIGSTOP)  # hung, not dead: only the health monitor can tell
        hung.append(proxy_pid)

    tally = Tally()
    try:
        _run(load_stack.url, clip.wav(), LOAD_S, tally, [(6, kill_worker), (9, hang_proxy)])
    finally:
        if hung and load_stack.pid("license_proxy") == proxy_pid:
            os.kill(proxy_pid, signal.SIGCONT)
    print(dict(tally.statuses))
    assert not tally.errors, (tally.errors[:10], _diagnosis(load_stack, tally.timed_out))
    assert tally.statuses["tts 200"] > 10 and tally.statuses["asr 200"] > 5

    # Recovered without a stack restart: new worker and proxy pids, same gateway, /health 200.
    wait_until(lambda: http_status(f"{load_stack.url}/health?capability=all") == 200, 60, "/health back to 200")
    assert load_stack.pid("asr_worker") not in (0, worker_pid)
    assert load_stack.pid("license_proxy") not in (0, proxy_pid)
    assert load_stack.pid("gateway") == gateway_pid

    # Every accepted queued job ends with a result, the ones the killed worker held included.
    pending = set(tally.queued + warm.queued)
    assert pending

    def all_done() -> bool:
        for job_id in list(pending):
            body = httpx.get(f"{load_stack.url}/v1/listen/{job_id}", timeout=10).json()
            if body.get("status") == "done":
                assert "fox" in body["text"].lower(), body
                pending.discard(job_id)
        return not pending

    wait_until(all_done, 60, "every queued job to have a result", interval_s=1)

    # Memory: the faults' error paths and the busiest moments may claim memory once (allocator
    # arenas, lazily built objects), bounded here; a leak keeps growing, so a second clean round of
    # the same load must leave the gateway where the first one did.
    rss_after = _rss_kb(gateway_pid)
    assert rss_after <= rss_warm * 1.25, f"gateway RSS grew from {rss_warm} kB to {rss_after} kB"
    again = Tally()
    _run(load_stack.url, clip.wav(), STEADY_S, again, [])
    assert not again.errors, (again.errors[:5], _diagnosis(load_stack, again.timed_out))
    rss_again = _rss_kb(gateway_pid)
    assert rss_again <= rss_after * 1.05, f"gateway RSS kept growing: {rss_after} kB, then {rss_again} kB"
    # A job whose thread gets stuck costs no client a 504 (the worker hands it on), but it should not
    # happen at all: the stack the worker logged for it goes to the run's warnings.
    for line in load_stack.log("asr_worker").splitlines():
        if "job stalled" in line:
            warnings.warn(f"a job's thread got stuck and another worker took the job over: {line}", stacklevel=1)
