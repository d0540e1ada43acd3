"""Svara in the whole appliance on CPU: `scripts/start.sh` with TTS_SVARA_ENABLED=true and VLLM_MODEL a
local directory starts real vLLM (the CPU build) under supervisord at priority 100; the Svara voices
work end to end, the health monitor's vLLM start-up grace holds, and kill -9 of vLLM gives 503 +
Retry-After while it reloads, then service again."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.support import Stack, free_port, wait_until
from tests.support.svara import seeded_snac_dir, shared_engine, snr_db
from tests.support.svara_model import SPEAKERS, TEXTS, known_frames, model_dir

pytestmark = pytest.mark.slow
SEED = 7
VLLM_GRACE_S = 600  # vLLM takes about a minute to load on two cores; everything else gets 5 s


@pytest.fixture(scope="module")
def svara_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.create(
        tmp_path_factory.mktemp("svara-appliance"),
        TTS_SVARA_ENABLED="true",
        VLLM_MODEL=str(model_dir()),
        TTS_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}",
        VLLM_MAX_NUM_SEQS="4",
        SNAC_MODEL_PATH=str(seeded_snac_dir()),
        SNAC_DEVICE="cpu",
        SVARA_HEALTH_INTERVAL_S="0.5",
        RETRY_AFTER_S="3",
        MONITOR_VLLM_STARTUP_GRACE_S=str(VLLM_GRACE_S),
        # vLLM loading takes both cores for a while: a 1 s liveness probe of the gateway can miss.
        MONITOR_PROBE_TIMEOUT_S="5",
    )
    stack.start(ready_timeout_s=300)  # /health is 200 once vLLM has loaded (about a minute)
    try:
        wait_until(lambda: _svara_state(stack) == "ready", 300, "vLLM under supervisord to load")
        yield stack
    finally:
        stack.stop()


def _svara_state(stack: Stack) -> str | None:
    try:
        return str(httpx.get(f"{stack.url}/health", timeout=2).json()["components"]["svara"]["state"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _speak(stack: Stack, voice: str) -> httpx.Response:
    body = {"text": TEXTS[0], "voice": voice, "response_format": "pcm", "seed": SEED}
    return httpx.post(f"{stack.url}/v1/text-to-speech", json=body, timeout=120)


def _assert_known_audio(response: httpx.Response, voice: str) -> None:
    assert response.status_code == 200, response.text
    audio = np.frombuffer(response.content, dtype="<i2").astype(np.float64) / 32767
    whole = shared_engine().decode_whole(known_frames(voice), seed=SEED)
    assert audio.shape == whole.shape
    assert snr_db(audio, whole) >= 60


def test_vllm_runs_on_cpu_under_supervisord_and_the_voices_work(svara_stack: Stack) -> None:
    info = svara_stack.info("vllm")
    assert info["statename"] == "RUNNING"
    assert "device=cpu" in svara_stack.log("vllm")  # start_vllm.sh says which build it picked
    for voice in SPEAKERS:
        _assert_known_audio(_speak(svara_stack, voice), voice)


def test_the_monitor_leaves_loading_vllm_alone(svara_stack: Stack) -> None:
    # vLLM failed /health for about a minute while loading, far past MONITOR_FAILURES_BEFORE_RESTART
    # rounds of 1 s and the 5 s grace of other programs: only its own grace kept it from a restart.
    wait_until(lambda: "programs" in httpx.get(f"{svara_stack.url}/health").json(), 15, "monitor to publish")
    program = httpx.get(f"{svara_stack.url}/health").json()["programs"]["vllm"]
    assert program["restarts_by_monitor"] == 0
    restarts = [line for line in svara_stack.log("health_monitor").splitlines() if "restarting hung" in line]
    assert not [line for line in restarts if '"program": "vllm"' in line]


def test_killed_vllm_gives_503_with_retry_after_then_service_again(svara_stack: Stack) -> None:
    old_pid = svara_stack.pid("vllm")
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: _svara_state(svara_stack) != "ready", 15, "the gateway to see vLLM gone")
    response = _speak(svara_stack, "hi_male")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == "upstream_unavailable"
    wait_until(lambda: _svara_state(svara_stack) == "ready", 300, "supervisord to restart vLLM and it to load")
    assert svara_stack.pid("vllm") not in (0, old_pid)
    # The killed server's engine processes (its process group) did not outlive the restart.
    wait_until(lambda: not _group_alive(old_pid), 30, "the old vLLM engine processes to end")
    _assert_known_audio(_speak(svara_stack, "ta_female"), "ta_female")
